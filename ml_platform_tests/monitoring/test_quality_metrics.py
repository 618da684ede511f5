"""What the quality gauges say about retrains and about a platform that has done nothing yet, and a
push that fails: a warning in the sensor's log, never a failed tick."""

import logging

import dagster as dg
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.service_process import free_port
from ml_platform.defs.monitoring.quality import collect, quality_sensor
from ml_platform.definitions import PROJECT_DIR
from ml_platform.lib.quality_metrics import Quality, registry_for
from ml_platform.loop_resources import Pushgateway
from ml_platform.model_scope import ModelScope
from ml_platform.resources import MlflowTracking

MODEL = ModelScope(str(PROJECT_DIR / "datasets" / "customer_segmentation.yaml"))


@dg.op
def fit(should_fail: bool) -> None:
    if should_fail:
        raise RuntimeError("the fit ran out of memory")


@dg.job(name="retrain")
def retrain_stand_in():
    fit()


def run_retrain(instance: dg.DagsterInstance, should_fail: bool) -> None:
    retrain_stand_in.execute_in_process(instance=instance, raise_on_error=False,
                                        run_config={"ops": {"fit": {"inputs": {"should_fail": should_fail}}}})


def test_a_failed_retrain_after_a_good_one_is_published_with_both_times():
    with dg.DagsterInstance.ephemeral() as instance:
        assert collect(instance, MODEL).retrain is None
        run_retrain(instance, should_fail=False)
        run_retrain(instance, should_fail=True)
        quality = collect(instance, MODEL)
        good, bad = sorted(instance.get_run_records(dg.RunsFilter(job_name="retrain")), key=lambda r: r.end_time)
    assert quality.retrain == {"success": False, "finished": bad.end_time, "last_success": good.end_time}
    values = {s.name: s.value for f in text_string_to_metric_families(generate_latest(registry_for(quality)).decode())
              for s in f.samples}
    assert values == {"ml_platform_retrain_last_success": 0, "ml_platform_retrain_last_finished_timestamp_seconds": bad.end_time,
                      "ml_platform_retrain_last_success_timestamp_seconds": good.end_time}


def test_nothing_known_publishes_nothing_rather_than_zeros():
    """A zero would read as 'accuracy 0' or 'data from 1970' and fire alerts; no series fires none."""
    assert "ml_platform_" not in generate_latest(registry_for(Quality(dataset="d"))).decode()
    unlabelled = Quality(dataset="d", live={"labelled": 0, "model_version": None})
    assert "ml_platform_" not in generate_latest(registry_for(unlabelled)).decode()


class Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_push_that_fails_is_a_warning_and_an_empty_url_is_off(tmp_path):
    tracking = MlflowTracking(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=str(tmp_path))
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    for configured, expected in ((url, "push failed: URLError"),
                                 ("", "no Pushgateway configured (ML_PLATFORM_PUSHGATEWAY_URL is empty)")):
        resources = {"pushgateway": Pushgateway(url=configured), "mlflow_tracking": tracking}
        logged = Records()
        with dg.DagsterInstance.ephemeral() as instance, \
                dg.build_sensor_context(instance=instance, resources=resources) as context:
            context.log.addHandler(logged)
            assert quality_sensor(MODEL)(context).skip_message == expected
        warnings = [r.getMessage() for r in logged.records if r.levelno >= logging.WARNING]
        assert warnings == ([f"model-quality metrics not pushed to {url}: URLError: <urlopen error "
                             "[Errno 111] Connection refused>"] if configured else [])


def test_a_challenger_under_live_evaluation_is_published_from_the_latest_decision():
    decision = {"outcome": "wait", "challenger": "7", "difference": -0.04, "labelled": 120, "policy_tolerance": 0.01}
    with dg.DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization("promotion_decision", metadata=decision))
        quality = collect(instance, MODEL)
        instance.report_runless_asset_event(dg.AssetMaterialization("promotion_decision",
                                                                    metadata={"outcome": "none"}))
        assert collect(instance, MODEL).challenger is None, "no challenger out: nothing published"
    values = {s.name: s.value for f in text_string_to_metric_families(generate_latest(registry_for(quality)).decode())
              for s in f.samples}
    assert {k: v for k, v in values.items() if k != "ml_platform_challenger_decided_timestamp_seconds"} == {
        "ml_platform_challenger_version": 7, "ml_platform_challenger_accuracy_difference": -0.04,
        "ml_platform_challenger_labelled_records": 120, "ml_platform_challenger_tolerance": 0.01}


def test_a_component_models_push_is_grouped_by_its_model_as_the_bentos_series_are_labelled():
    """The Pushgateway's group path carries `model` for a component model, so quality alerts name the model
    the serving alerts name; the shortcut's group stays keyed by dataset alone."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from ml_platform.lib.quality_metrics import push

    paths = []

    class Gateway(BaseHTTPRequestHandler):
        def do_PUT(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            paths.append(self.path)
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        known = {"last_landed": 1.0}
        push(url, Quality(dataset="iris", model="iris", **known))
        push(url, Quality(dataset="customer-segmentation", **known))
    finally:
        server.shutdown()
    assert paths == ["/metrics/job/ml_platform_quality/dataset/iris/model/iris",
                     "/metrics/job/ml_platform_quality/dataset/customer-segmentation"]
