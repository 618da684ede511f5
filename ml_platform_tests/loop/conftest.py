"""A platform with the loop's resources, and a tick that does what the sensor daemon does, in process."""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg
import pytest

from ml_platform.definitions import build_defs
from ml_platform.loop_resources import RetrainPolicy, loop_resources
from ml_platform_tests.conftest import FAST_TRAINING, Platform

RUN_KEY_TAG, SENSOR_NAME_TAG = "dagster/run_key", "dagster/sensor_name"


def with_loop(platform: Platform, alert_webhook: str = "", **policy) -> Platform:
    """The same platform, its definitions given the loop's resources under its storage root."""
    loop = loop_resources(platform.data_root, alert_webhook=alert_webhook)
    loop["retrain_policy"] = RetrainPolicy(**policy)
    platform.defs = build_defs({**platform.resources, **loop})
    return platform


@pytest.fixture
def make_loop_platform(make_platform):
    def build(alert_webhook: str = "", policy: dict | None = None, **kwargs) -> Platform:
        return with_loop(make_platform(**kwargs), alert_webhook, **(policy or {}))

    return build


@dataclass
class Ticker:
    """Evaluates sensors with their stored cursors; applies partitions and runs as the daemon would.

    Run requests whose run key this sensor already used are dropped, exactly as the daemon drops them.
    """

    platform: Platform
    cursors: dict[str, str | None] = field(default_factory=dict)

    def evaluate(self, name: str):
        repository = self.platform.defs.get_repository_def()
        instance = self.platform.instance
        with dg.build_sensor_context(instance=instance, instance_ref=instance.get_ref(), cursor=self.cursors.get(name),
                                     repository_def=repository, sensor_name=name,
                                     resources=self.platform.resources) as context:
            data = repository.get_sensor_def(name).evaluate_tick(context)
        self.cursors[name] = data.cursor
        return data

    def tick(self, name: str, execute: bool = True) -> list[dg.RunRequest]:
        data = self.evaluate(name)
        instance = self.platform.instance
        for request in data.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        new = [r for r in data.run_requests or [] if not instance.get_run_records(
            dg.RunsFilter(tags={RUN_KEY_TAG: r.run_key, SENSOR_NAME_TAG: name}), limit=1)]
        if execute:
            for request in new:
                self.launch(name, request)
        return new

    def launch(self, name: str, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
        sensor = self.platform.defs.get_repository_def().get_sensor_def(name)
        job_name = request.job_name or sensor.job_name
        run_config = request.run_config or (FAST_TRAINING if job_name == "retrain" else {})
        return self.platform.job(job_name).execute_in_process(
            instance=self.platform.instance, partition_key=request.partition_key, run_config=run_config,
            tags={**request.tags, RUN_KEY_TAG: request.run_key, SENSOR_NAME_TAG: name}, raise_on_error=False)


@pytest.fixture
def ticker_for():
    return Ticker
