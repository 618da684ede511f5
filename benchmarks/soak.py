"""Load and soak the real Bento: throughput at 32 clients, then memory and errors at a steady rate.

    .venv/bin/python benchmarks/soak.py [--requests 10000] [--rate 100] [--duration 300]

Serves the newest Bento in $BENTOML_HOME as `make serve` does (`make` sets it to the repo's store); with
no Bento there, the platform is first run (`ml_platform.quickstart`, what `make run` runs) into a
temporary state folder. The inference log goes to a
temporary folder, never the platform's, so the closed loop does not learn from synthetic traffic.
(a) `--requests` single-record requests from `--concurrency` connections: req/s, p50/p99, errors.
(b) `--rate` req/s on a fixed schedule for `--duration` s: RSS of the whole `bentoml` process tree
at start, every `--sample-every` s and at the end, errors. After a clean shutdown (SIGINT), how many
of the request ids answered 2xx are in the inference log, once. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.loadgen import payloads, run, summary  # noqa: E402
from benchmarks.service_process import HOST, PROJECT_DIR, serve, stop, tree_rss_mb  # noqa: E402
from ml_platform.lib.inference_log import OPEN_SUFFIX, closed_files, read_records  # noqa: E402


def platform_env() -> dict[str, str]:
    """The environment of a platform with a Bento: the caller's if it has one, else a fresh `make run`."""
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "True", "DAGSTER_DISABLE_TELEMETRY": "1",
           "MLFLOW_ENABLE_TELEMETRY": "false"}
    if env.get("BENTOML_HOME") and newest_bento(env):
        return env
    state = Path(tempfile.mkdtemp(prefix="soak-platform-"))
    print(f"no Bento in $BENTOML_HOME: running the platform into {state}", file=sys.stderr)
    env.update(ML_PLATFORM_DATASET=str(PROJECT_DIR / "datasets" / "customer_segmentation.yaml"),
               ML_PLATFORM_STORAGE=str(state / "data"), MLFLOW_TRACKING_URI=f"sqlite:///{state / 'mlflow.db'}",
               MLFLOW_ARTIFACTS_DESTINATION=str(state / "mlflow-artifacts"), BENTOML_HOME=str(state / "bentoml"),
               DAGSTER_HOME=str(state / "dagster_home"),
               ML_PLATFORM_INFERENCE_LOG_DIR=str(state / "data" / "inference_log"), ML_PLATFORM_ALERT_WEBHOOK="")
    (state / "dagster_home").mkdir()
    (state / "dagster_home" / "dagster.yaml").write_text((PROJECT_DIR / "dagster.yaml").read_text())
    built = subprocess.run([sys.executable, "-m", "ml_platform.quickstart"], cwd=PROJECT_DIR, env=env,
                           capture_output=True, text=True)
    if built.returncode != 0:
        raise SystemExit(f"make run failed:\n{built.stdout[-2000:]}\n{built.stderr[-3000:]}")
    return env


def newest_bento(env: dict[str, str]) -> dict | None:
    listed = subprocess.run([sys.executable, "-m", "bentoml", "list", "-o", "json"], env=env, check=True,
                            capture_output=True, text=True).stdout
    return max(json.loads(listed or "[]"), key=lambda b: b["creation_time"], default=None)


def feature_names(bento: dict, env: dict[str, str]) -> list[str]:
    """The request fields, from the dataset spec stored beside the model the Bento was built with."""
    import yaml

    from ml_platform.lib.model_store import find, read_spec_json
    from ml_platform.lib.spec import DatasetSpec

    home = env["BENTOML_HOME"]
    built = yaml.safe_load((Path(home) / "bentos" / Path(*bento["tag"].split(":")) / "bento.yaml").read_text())
    model = find(home, built["labels"]["model_tag"])
    return DatasetSpec.model_validate(read_spec_json(model.path)).feature_names


def sample_rss(pid: int, every: float, samples: list[tuple[float, float, float]], done: threading.Event) -> None:
    started = time.monotonic()
    while True:
        samples.append((time.monotonic() - started, *tree_rss_mb(pid)))
        if done.wait(every):
            samples.append((time.monotonic() - started, *tree_rss_mb(pid)))
            return


def metric(port: int, name: str) -> float:
    import httpx

    text = httpx.get(f"http://{HOST}:{port}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=10_000, help="requests in the throughput phase")
    parser.add_argument("--concurrency", type=int, default=32, help="connections in the throughput phase")
    parser.add_argument("--rate", type=float, default=100, help="requests per second in the soak")
    parser.add_argument("--duration", type=float, default=300, help="soak seconds")
    parser.add_argument("--sample-every", type=float, default=30, help="seconds between RSS samples")
    args = parser.parse_args()
    env = platform_env()
    bento = newest_bento(env)
    log_dir = Path(tempfile.mkdtemp(prefix="soak-inference-log-"))
    env = {**env, "ML_PLATFORM_INFERENCE_LOG_DIR": str(log_dir)}
    bodies = payloads(feature_names(bento, env), count=256)
    process, port = serve(bento["tag"], env, output=log_dir.parent / f"{log_dir.name}.service.log")
    try:
        answers, elapsed = run(port, bodies, args.requests, args.concurrency, max_seconds=600)
        throughput = summary(answers, elapsed)
        samples: list[tuple[float, float, float]] = []
        done = threading.Event()
        sampler = threading.Thread(target=sample_rss, args=(process.pid, args.sample_every, samples, done))
        sampler.start()
        soak_answers, soak_elapsed = run(port, bodies, int(args.rate * args.duration), 32, rate=args.rate,
                                         max_seconds=args.duration + 120)
        done.set()
        sampler.join()
        dropped = metric(port, "ml_platform_inference_log_dropped_total")
    finally:
        exit_code = stop(process)
    answered = [a.request_id for a in answers + soak_answers if 200 <= a.status < 300]
    logged = Counter(r["request_id"] for f in closed_files(log_dir) for r in read_records(f))
    left_open = len(list(log_dir.glob(f"*{OPEN_SUFFIX}")))
    print(f"service output and inference log: {log_dir.parent / log_dir.name}*", file=sys.stderr)
    print(table(args, bento["tag"], throughput, summary(soak_answers, soak_elapsed), samples, answered, logged,
                (exit_code, left_open, dropped), os.getloadavg()))


def table(args, tag, throughput, soak, samples, answered, logged, shutdown, load) -> str:
    exit_code, left_open, dropped = shutdown
    once, answered_ids = sum(logged.get(i) == 1 for i in answered), set(answered)
    unanswered = sum(n for i, n in logged.items() if i not in answered_ids)
    lines = [f"Bento {tag}, 127.0.0.1, load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
             f"on {os.cpu_count()} CPUs (the client shares them)", "",
             "| phase | requests | req/s | p50 ms | p99 ms | errors |", "|---|---|---|---|---|---|",
             f"| (a) {args.concurrency} clients | {args.requests} | {throughput['rps']:.0f} | {throughput['p50']:.1f} "
             f"| {throughput['p99']:.1f} | {throughput['errors']} |",
             f"| (b) soak {args.rate:g} req/s x {args.duration:g} s | {int(args.rate * args.duration)} | "
             f"{soak['rps']:.0f} | {soak['p50']:.1f} | {soak['p99']:.1f} | {soak['errors']} |", "",
             "| soak second | RSS MiB, process tree | RSS MiB, largest process |", "|---|---|---|"]
    lines += [f"| {t:.0f} | {total:.0f} | {largest:.0f} |" for t, total, largest in samples]
    lines += ["", "| inference log after clean shutdown | value |", "|---|---|",
              f"| service exit code | {exit_code} |", f"| `.part` files left open | {left_open} |",
              f"| 2xx request ids sent | {len(answered)} |",
              f"| of them in the log exactly once | {once} ({once / max(1, len(answered)):.4%}) |",
              f"| log lines with an id never answered 2xx | {unanswered} |",
              f"| ml_platform_inference_log_dropped_total | {dropped:g} |"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
