"""The canary schedule as `promotion_decision` runs it, on the real registry and journal: the share steps
up while the challenger holds, and promotion waits for the last step."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import dagster as dg

from ml_platform.defs.promotion.alias_history import Journal, recorded_moves
from ml_platform.defs.promotion.decision import promotion_decision_asset
from ml_platform.model_scope import ModelScope
from ml_platform.lib.canary import share_of
from ml_platform.lib.inference_log import CLOSED_SUFFIX
from ml_platform.lib.registry import CHALLENGER
from ml_platform.loop_resources import LoopStorage
from ml_platform.resources import DatasetResource
from ml_platform_tests.conftest import write_spec
from ml_platform_tests.serving.conftest import RECORD


def test_the_decision_steps_the_share_up_while_the_challenger_holds_and_promotes_after_the_last_step(platform, tmp_path):
    """The real `promotion_decision` on a canary spec (6 s steps) and the real registry, fed a log in which
    both models are right on 300 labelled records: it waits at 5%, steps to 25% and 50% as each holds,
    and promotes only once 50% has held, each share change journalled."""
    spec = write_spec(tmp_path / "canary.yaml", source={"batches": 2, "rows_per_batch": 800},
                      promotion={"mode": "canary", "canary": {"step_minutes": 0.1}})
    loop = LoopStorage(inference_log_dir=str(tmp_path / "log"), labels_dir=str(tmp_path / "labels"))
    resources = {**platform.resources, "dataset": DatasetResource(spec_path=str(spec)), "loop_storage": loop}
    registry, journal = platform.registry, Journal(platform.instance)
    journal.share(registry, "2", 5, "test", "first step")
    journal.move(registry, CHALLENGER, "2", "test", "canary")
    now = datetime.now(timezone.utc).isoformat()
    loop.inference_log_path.mkdir()
    loop.labels_path.mkdir()
    logged = [{"record_id": f"r{n}", "request_id": f"r{n}", "timestamp": now, "model_version": "1", "inputs": RECORD,
               "prediction": "budget", "probabilities": {}, "shadow": {"model_version": "2", "prediction": "budget"}}
              for n in range(300)]
    (loop.inference_log_path / f"inference-20260101T000000.000000-1-1-ab-host{CLOSED_SUFFIX}").write_text(
        "".join(json.dumps(record) + "\n" for record in logged))
    (loop.labels_path / "labels.csv").write_text("record_id,label\n" + "".join(f"r{n},budget\n" for n in range(300)))
    decisions = []
    try:
        while not decisions or decisions[-1]["outcome"] == "wait":
            assert len(decisions) < 6, decisions
            time.sleep(6.5 if decisions else 0)  # a step holds 6 s
            decisions.append(dg.materialize([promotion_decision_asset(ModelScope(str(spec)))], resources=resources, instance=platform.instance,
                                            run_config={"ops": {"promotion_decision": {"config": {"grace_seconds": 0}}}}
                                            ).output_for_node("promotion_decision"))
        assert [(d["outcome"], d["canary_percent"], d["canary_step_to"]) for d in decisions] == [
            ("wait", 5, ""), ("wait", 5, 25), ("wait", 25, 50), ("promote", 50, "")], decisions
        assert "the canary serves 5% of clients" in decisions[0]["reason"]
        assert registry.champion_version() == "2" and registry.alias_version(CHALLENGER) is None
        assert share_of(registry.version_tags("2")) == 0
        moves = [(m.alias, m.from_version, m.to_version, m.canary_percent)
                 for m in recorded_moves(platform.instance)][-6:]
        assert moves == [(CHALLENGER, None, "2", None), (CHALLENGER, "2", "2", "25"), (CHALLENGER, "2", "2", "50"),
                         ("champion", "1", "2", None), (CHALLENGER, "2", "2", "0"), (CHALLENGER, "2", None, None)]
    finally:
        journal.move(registry, "champion", "1", "test", "back to the fixture's champion")
        registry.delete_alias(CHALLENGER)
