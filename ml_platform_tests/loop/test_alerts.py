"""A failed run, including one stopped by a failed blocking check, is logged and POSTed to the webhook."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg
import pytest

from ml_platform.lib.generator import Knobs
from ml_platform.lib.landing import land_generated


@pytest.fixture
def webhook():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/alerts", received
    server.shutdown()


def test_a_failed_blocking_check_fails_the_run_and_posts_an_alert_naming_it(make_loop_platform, webhook):
    url, received = webhook
    platform = make_loop_platform(alert_webhook=url)
    path = land_generated(platform.spec, platform.landing, 1, Knobs(corrupt_share=0.5), rows=200)
    result = platform.ingest(path.name, raise_on_error=False)
    assert not result.success

    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    sensor = platform.defs.get_repository_def().get_sensor_def("alert_on_run_failure")
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name, dagster_event=failure, dagster_instance=platform.instance,
        dagster_run=platform.instance.get_run_by_id(result.run_id),
        resources={"alerts": platform.resources["alerts"]}).for_run_failure()
    sensor(context)

    [alert] = received
    assert alert["run_id"] == result.run_id and alert["job"] == "ingest_batch" and alert["partition"] == path.name
    assert alert["failed_checks"] == [{"asset": "validated_data", "check": "rejected_share_within_limit",
                                       "description": "50.0% of 200 rows rejected; limit 20.0%", "severity": "ERROR"}]
    assert [s["step"] for s in alert["failed_steps"]] == ["validate_batch"]
    assert platform.instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.FAILURE
