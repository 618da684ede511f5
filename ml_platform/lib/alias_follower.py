"""Follow MLflow registry aliases (`champion`, optionally a shadow such as `challenger`) from a service.

Promotion and `make rollback` only move an alias; every running service notices on its next poll,
loads the version the alias now names and hands it over, so neither needs to know about the other.
The champion must come from the BentoML store (checksum-verified, exactly what promotion approved);
a shadow model may also come straight from the MLflow registry, since it was never promoted, checked
against the sha256 its version was tagged with when it was logged. On the same poll each role is told
the canary share its loaded version is tagged with (`ml_platform/lib/canary.py`), 0 while it loads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ml_platform.lib import model_store
from ml_platform.lib.canary import share_of
from ml_platform.lib.served_model import ServedModel, from_store, single_threaded
from ml_platform.lib.spec import DatasetSpec

logger = logging.getLogger(__name__)
MAX_RETRY_SECONDS = 60.0


@dataclass(frozen=True)
class _Failure:
    version: str | None
    delay: float
    retry_at: float


class AliasFollower:
    def __init__(self, tracking_uri: str, spec: DatasetSpec, bentoml_home: str, roles: dict[str, str],
                 on_load: Callable[[str, ServedModel | None], None],
                 on_failure: Callable[[str, str, Exception], None], on_settled: Callable[[str], None] = lambda role: None,
                 interval_seconds: float = 5.0, serving: dict[str, str] | None = None,
                 on_share: Callable[[str, float], None] = lambda role, percent: None):
        """`roles` maps a role ("champion", "shadow") to the alias it follows; `serving`, the version each
        role already serves. `on_failure` is told once per refused version; `on_settled` when the alias
        names the served version again (a rollback); `on_share`, after every poll, the canary share of
        the version each role serves."""
        from ml_platform.lib.registry import Registry

        self.registry = Registry(tracking_uri, spec.name)
        self.spec, self.home, self.roles, self.interval = spec, bentoml_home, roles, interval_seconds
        self.on_load, self.on_failure, self.on_settled, self.on_share = on_load, on_failure, on_settled, on_share
        self.versions: dict[str, str | None] = dict(serving or {})
        self._failed: dict[str, _Failure] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alias-follower", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def poll(self) -> None:
        """Load whatever each alias names now, if that differs from what is loaded.

        A version that failed is retried with a doubling delay (up to a minute), so a repaired
        artifact is picked up without a restart and a broken one does not cost a load every poll."""
        for role, alias in self.roles.items():
            version, tags = self.registry.alias_tags(alias)
            self._follow(role, alias, version)
            serves_it = version is not None and self.versions.get(role) == version
            self.on_share(role, share_of(tags) if serves_it else 0.0)

    def _follow(self, role: str, alias: str, version: str | None) -> None:
        if role in self.versions and version == self.versions[role]:
            if self._failed.pop(role, None) is not None:
                self.on_settled(role)
            return
        failed = self._failed.get(role)
        retrying = failed is not None and failed.version == version
        if retrying and time.monotonic() < failed.retry_at:
            return
        try:
            self.on_load(role, None if version is None else self._load(role, version))
        except Exception as exc:
            if not retrying:
                logger.warning(f"{role}: cannot serve v{version} named by alias {alias!r}: {exc}")
                self.on_failure(role, version or "", exc)
            delay = min(failed.delay * 2, MAX_RETRY_SECONDS) if retrying else self.interval
            self._failed[role] = _Failure(version, delay, time.monotonic() + delay)
            return
        self._failed.pop(role, None)
        logger.info(f"{role}: alias {alias!r} names v{version}; now serving it")
        self.versions[role] = version

    def _load(self, role: str, version: str) -> ServedModel:
        stored = model_store.find(self.home, model_store.tag_for(self.spec.name, version))
        if stored is not None:
            return from_store(stored)
        if role == "champion":
            raise model_store.ModelNotInStore(f"v{version} is not in the BentoML store at {self.home} (yet)")
        tags = self.registry.version_tags(version)
        return ServedModel(single_threaded(self.registry.load_model(version)), version,
                           tags.get("data_version", ""), self.spec, source=f"models:/{self.spec.name}/{version}")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception as exc:
                logger.warning(f"alias poll failed, will retry: {exc}")
