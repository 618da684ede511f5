"""Promotion: a worse candidate never replaces the champion; a failed promotion changes nothing anywhere."""

import pytest

from ml_platform.lib import model_store
from ml_platform.lib.promotion import gate, promote
from ml_platform.lib.registry import Registry
from ml_platform.lib.spec import Thresholds
from ml_platform.quickstart import run_platform

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
def with_champion(make_platform):
    platform = make_platform()
    assert run_platform(platform.defs, platform.instance) == []
    assert platform.registry.champion_version() == "1"
    return platform


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


def test_a_failure_mid_promotion_leaves_the_old_champion_everywhere(with_champion, monkeypatch):
    platform = with_champion

    def registry_down(self, version):
        raise ConnectionError("MLflow registry unavailable")

    monkeypatch.setattr(Registry, "set_champion", registry_down)
    result = platform.retrain(raise_on_error=False)
    assert not result.success
    assert platform.registry.champion_version() == "1"
    assert stored_versions(platform) == {"1"}  # the staged v2 never entered the store


def test_a_failure_as_the_store_commits_puts_the_alias_back(with_champion):
    platform = with_champion
    weak = {"ops": {"trained_model": {"config": {"estimators": ["logistic_regression"], "logistic_c": [1e-5]}}}}
    assert platform.retrain(run_config=weak).output_for_node("trained_model")["version"] == "2"
    moved_to = []

    class FailsOnCommit:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            moved_to.append(platform.registry.champion_version())
            raise OSError("disk full while committing the model")

    with pytest.raises(OSError, match="disk full"):
        promote(platform.registry, "2", FailsOnCommit())
    assert moved_to == ["2"]  # the alias had moved when the commit failed...
    assert platform.registry.champion_version() == "1"  # ...and was put back
