"""Promotion: a worse candidate never replaces the champion; the alias moves only to a stored, verified model."""

from contextlib import nullcontext
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ml_platform.defs.promotion.alias_history import recorded_moves
from ml_platform.lib import model_store
from ml_platform.lib.champion_bento import champion_bento
from ml_platform.lib.alias_moves import serving_at
from ml_platform.lib.promotion import gate, promote, verify_stored
from ml_platform.lib.registry import Registry
from ml_platform.lib.spec import Thresholds

LIMITS = Thresholds(metric="f1_macro", min_metric=0.6, promotion_tolerance=0.01)


def test_gate_rules():
    assert gate({"f1_macro": 0.7}, None, LIMITS).promote
    assert not gate({"f1_macro": 0.5}, None, LIMITS).promote
    assert gate({"f1_macro": 0.795}, {"f1_macro": 0.8}, LIMITS).promote
    worse = gate({"f1_macro": 0.78}, {"f1_macro": 0.8}, LIMITS)
    assert not worse.promote and "worse than the champion's 0.8000" in worse.reason


def stored_versions(platform) -> set[str]:
    return {m.info.labels["mlflow_version"] for m in model_store.list_versions(platform.bentoml_home,
                                                                                platform.spec.name)}


@pytest.fixture
def with_champion(trained_platform):
    assert trained_platform.registry.champion_version() == "1"
    return trained_platform


def test_a_worse_candidate_does_not_replace_the_champion(with_champion):
    platform = with_champion
    weak = {"ops": {"trained_model": {"config": {"estimators": ["logistic_regression"], "logistic_c": [1e-5]}}}}
    result = platform.retrain(run_config=weak)
    assert result.success
    evaluation = result.output_for_node("evaluation_report")
    assert evaluation["candidate_version"] == "2" and not evaluation["gate"]["promote"]
    promoted = result.output_for_node("promoted_model")
    assert promoted["champion_version"] == "1" and not promoted["promoted"]
    assert platform.registry.champion_version() == "1"
    assert stored_versions(platform) == {"1"}
    assert result.output_for_node("bento")["model_tag"] == model_store.tag_for(platform.spec.name, "1")

    platform.registry.set_champion("2")  # as a live promotion does: no Bento was ever built for v2
    fallback = champion_bento(platform.registry, platform.bentoml_home)
    assert fallback.info.labels["model_tag"] == model_store.tag_for(platform.spec.name, "1"), \
        "make serve serves the dataset's newest Bento, which follows the alias to v2"


def test_every_alias_move_is_journalled_in_order_and_answers_which_model_served_when(with_champion):
    platform = with_champion
    assert platform.retrain().output_for_node("promoted_model")["champion_version"] == "2"
    moves = recorded_moves(platform.instance)
    assert [(m.alias, m.from_version, m.to_version) for m in moves] == [("champion", None, "1"), ("champion", "1", "2")]
    assert all(m.actor.startswith("promoted_model (run ") and m.reason for m in moves)
    first_promotion = datetime.fromisoformat(moves[0].at)
    assert serving_at(moves, first_promotion - timedelta(seconds=1)) is None
    assert serving_at(moves, first_promotion) == "1"
    assert serving_at(moves, datetime.fromisoformat(moves[1].at) + timedelta(days=7)) == "2"


def test_retraining_on_unchanged_data_with_unchanged_code_keeps_the_champion(with_champion):
    platform = with_champion
    first = platform.retrain().output_for_node("promoted_model")
    assert first["promoted"] and first["champion_version"] == "2", "another search than make run's: a new model"
    again = platform.retrain().output_for_node("promoted_model")
    assert not again["promoted"] and again["champion_version"] == "2" and again["candidate_version"] == "3"
    assert "trained on the same data" in again["reason"] and "as champion v2: not a new champion" in again["reason"]
    assert [m.to_version for m in recorded_moves(platform.instance)] == ["1", "2"]


def test_a_failure_as_the_alias_moves_leaves_the_old_champion_with_the_candidate_stored(with_champion, monkeypatch):
    platform = with_champion

    def registry_down(self, version):
        raise ConnectionError("MLflow registry unavailable")

    monkeypatch.setattr(Registry, "set_champion", registry_down)
    result = platform.retrain(raise_on_error=False)
    assert not result.success
    assert platform.registry.champion_version() == "1"
    assert stored_versions(platform) == {"1", "2"}  # committed before the alias was to move, never served


def test_a_failure_as_the_store_commits_never_moves_the_alias(with_champion):
    platform = with_champion
    weak = {"ops": {"trained_model": {"config": {"estimators": ["logistic_regression"], "logistic_c": [1e-5]}}}}
    assert platform.retrain(run_config=weak).output_for_node("trained_model", "trained_model")["version"] == "2"
    alias_at_commit = []

    class FailsOnCommit:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            alias_at_commit.append(platform.registry.champion_version())
            raise OSError("disk full while committing the model")

    with pytest.raises(OSError, match="disk full"):
        promote(platform.registry, "2", FailsOnCommit())
    assert alias_at_commit == ["1"] and platform.registry.champion_version() == "1"


def test_a_stored_model_that_fails_its_checksum_is_never_made_champion(with_champion):
    platform = with_champion
    weak = {"ops": {"trained_model": {"config": {"estimators": ["logistic_regression"], "logistic_c": [1e-5]}}}}
    assert platform.retrain(run_config=weak).output_for_node("trained_model", "trained_model")["version"] == "2"
    home, spec = platform.bentoml_home, platform.spec
    tag = model_store.tag_for(spec.name, "2")
    with model_store.staged_champion(home, spec.name, "2", platform.registry.load_model("2"),
                                     spec.model_dump_json(), labels={}, metadata={}):
        pass
    model_file = Path(model_store.find(home, tag).path, model_store.MODEL_FILE)
    stored = model_file.read_bytes()
    model_file.write_bytes(stored[:-1] + bytes([stored[-1] ^ 0xFF]))  # a torn or altered write

    with pytest.raises(model_store.ModelIntegrityError):
        promote(platform.registry, "2", nullcontext(), verify=lambda: verify_stored(home, tag))
    assert platform.registry.champion_version() == "1"
