"""Time from a challenger being set to its promotion, with the real service, registry and decision.

Run: `PYTHONPATH=. .venv/bin/python benchmarks/live_promotion.py [--label-rate 2] [--modes shadow canary]`.
Per mode, in a temporary directory: `make run`'s first pass trains champion v1 and `bentoml serve` starts
on it. Traffic flows at --request-rate records/s from many clients (generated records whose true segment
the script keeps). A retrain with another search makes v2 the challenger through the real
`promoted_model`. The true labels of answered records arrive at --label-rate per second, each
--label-delay s after its answer. The real `challenger_sensor` is evaluated every 30 s (its minimum
interval, as the daemon does) and every run it asks for is the real `decide_promotion` job.
The policy is the spec's default (200 labelled records, tolerance 1 point, alpha 0.05); canary mode
steps through 5, 25 and 50% of clients, --step-minutes each.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the repo's packages

import dagster as dg  # noqa: E402
import httpx  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from benchmarks import service_process  # noqa: E402
from ml_platform.definitions import PROJECT_DIR, build_defs, platform_resources  # noqa: E402
from ml_platform.lib.generator import generate  # noqa: E402
from ml_platform.lib.registry import CHALLENGER  # noqa: E402
from ml_platform.quickstart import run_platform  # noqa: E402

CHALLENGER_SEARCH = {"ops": {"trained_model": {"config": {"estimators": ["logistic_regression"], "logistic_c": [3.0]}}}}
TICK_SECONDS = 30


class Traffic:
    """Sends records at a steady rate and labels the answered ones at a steady rate, after a delay."""

    def __init__(self, url: str, labels_dir: Path, request_rate: float, label_rate: float, label_delay: float):
        self.url, self.labels_dir = url, labels_dir
        self.request_rate, self.label_rate, self.label_delay = request_rate, label_rate, label_delay
        self.answered: list[tuple[float, str, str]] = []  # (when, record id, true segment)
        self.labelled = self.first = 0  # labels written; the first answer labelled (the challenger's traffic)
        self.stop = threading.Event()

    def send(self) -> None:
        rows = generate("customer_segmentation", 100_000, seed=7)
        features = rows.drop(columns=["segment"]).to_dict("records")
        with httpx.Client(base_url=self.url, timeout=30) as client:
            for n, (record, truth) in enumerate(zip(features, rows["segment"])):
                if self.stop.wait(1 / self.request_rate):
                    return
                response = client.post("/predict", json=record, headers={"x-client-id": f"client-{n % 5000}"})
                if response.status_code == 200:
                    self.answered.append((time.monotonic(), response.json()[0]["record_id"], str(truth)))

    def label(self) -> None:
        """One CSV every 5 s, holding the labels due at the rate (as a labelling team's export would), for
        the records answered since the labelling started."""
        started, self.first = time.monotonic(), len(self.answered)
        while not self.stop.wait(5):
            due = int((time.monotonic() - started) * self.label_rate) - self.labelled
            ready = [a for a in self.answered[self.first + self.labelled:]
                     if a[0] <= time.monotonic() - self.label_delay][:due]
            if ready:
                pd.DataFrame([{"record_id": r, "label": t} for _, r, t in ready]).to_csv(
                    self.labels_dir / f"labels-{self.labelled:06d}.csv", index=False)
                self.labelled += len(ready)


def spec_for(root: Path, mode: str, step_minutes: float) -> Path:
    spec = yaml.safe_load((PROJECT_DIR / "datasets" / "customer_segmentation.yaml").read_text())
    spec["promotion"] = {"mode": mode, **({"canary": {"step_minutes": step_minutes}} if mode == "canary" else {})}
    (root / "spec.yaml").write_text(yaml.safe_dump(spec))
    return root / "spec.yaml"


def run(mode: str, args: argparse.Namespace) -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"live-promotion-{mode}-"))
    resources = platform_resources(spec_path=str(spec_for(root, mode, args.step_minutes)), data_dir=str(root / "data"),
                                   tracking_uri=f"sqlite:///{root / 'mlflow.db'}", artifact_root=str(root / "artifacts"),
                                   bentoml_home=str(root / "bentoml"))
    os.environ["BENTOML_HOME"] = str(root / "bentoml")
    defs, loop = build_defs(resources), resources["loop_storage"]
    (root / "dagster_home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(root / "dagster_home"))
    assert run_platform(defs, instance) == [], "the first pass failed"
    loop.labels_path.mkdir(parents=True, exist_ok=True)
    port = service_process.free_port()
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "True", "PYTHONPATH": str(PROJECT_DIR),
           "ML_PLATFORM_MODEL_TAG": "customer-segmentation:v1", "MLFLOW_TRACKING_URI": resources["mlflow_tracking"].tracking_uri,
           "ML_PLATFORM_INFERENCE_LOG_DIR": str(loop.inference_log_path), "ML_PLATFORM_INFERENCE_LOG_MAX_SECONDS": "10"}
    process = service_process.start("serving.service:Classifier", env, port, root / "service.log")
    traffic = Traffic(f"http://127.0.0.1:{port}", loop.labels_path, args.request_rate, args.label_rate, args.label_delay)
    try:
        service_process.wait_until_up(process, port, output=root / "service.log")
        threads = [threading.Thread(target=traffic.send, daemon=True)]
        threads[0].start()
        time.sleep(5)
        retrain = defs.resolve_job_def("retrain").execute_in_process(instance=instance, run_config=CHALLENGER_SEARCH)
        registry = resources["mlflow_tracking"].registry(resources["dataset"].load().name)
        assert registry.alias_version(CHALLENGER) is not None, retrain.output_for_node("promoted_model")["reason"]
        set_at = time.monotonic()
        threads.append(threading.Thread(target=traffic.label, daemon=True))
        threads[1].start()
        cursor, ticks, outcome, decision = None, 0, "wait", {}
        while outcome == "wait" and time.monotonic() - set_at < args.timeout:
            time.sleep(TICK_SECONDS - (time.monotonic() - set_at) % TICK_SECONDS)
            ticks += 1
            with dg.build_sensor_context(instance=instance, resources=defs.resources, cursor=cursor) as context:
                asked = defs.get_sensor_def("challenger_sensor")(context)
            if isinstance(asked, dg.SkipReason):
                continue
            cursor = asked.cursor
            result = defs.resolve_job_def("decide_promotion").execute_in_process(instance=instance)
            decision = result.output_for_node("promotion_decision")
            outcome = decision["outcome"]
        return {"mode": mode, "outcome": outcome, "seconds": time.monotonic() - set_at, "ticks": ticks,
                "labelled": decision.get("labelled", 0), "labels_sent": traffic.labelled,
                "difference": decision.get("difference", float("nan")),
                "lower_bound": decision.get("difference_lower_bound", float("nan")),
                "canary_records": decision.get("canary_records", 0), "records": decision.get("records", 0)}
    finally:
        traffic.stop.set()
        service_process.stop(process, timeout=30)
        instance.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=["shadow", "canary"], choices=["shadow", "canary"])
    parser.add_argument("--request-rate", type=float, default=20.0, help="records per second")
    parser.add_argument("--label-rate", type=float, default=2.0, help="labels per second")
    parser.add_argument("--label-delay", type=float, default=30.0, help="seconds from answer to label")
    parser.add_argument("--step-minutes", type=float, default=1.0, help="canary: minutes per step")
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args()
    rows = [run(mode, args) for mode in args.modes]
    print(f"\nrequests {args.request_rate:g}/s, labels {args.label_rate:g}/s arriving {args.label_delay:g} s after the "
          f"answer, sensor tick {TICK_SECONDS} s; canary steps 5/25/50% of {args.step_minutes:g} min\n")
    print("| mode | outcome | set -> outcome | sensor ticks | labels sent | labelled pairs judged "
          "| accuracy difference (lower bound) | canary-answered records |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['mode']} | {r['outcome']} | {r['seconds']:.0f} s | {r['ticks']} | {r['labels_sent']} | {r['labelled']} "
              f"| {r['difference']:+.3f} ({r['lower_bound']:+.3f}) | {r['canary_records']} of {r['records']} |")


if __name__ == "__main__":
    main()
