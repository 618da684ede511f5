"""A brief outage of the MLflow store is retried with backoff, and the retry shows in the run."""

import dagster as dg

from ml_platform.lib.registry import Registry


def test_mlflow_briefly_unavailable_is_retried_and_visible(trained_platform, monkeypatch):
    platform = trained_platform
    real = Registry.champion_version
    calls = []

    def flaky(self):
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("MLflow tracking store unavailable")
        return real(self)

    monkeypatch.setattr(Registry, "champion_version", flaky)
    result = platform.retrain()
    assert result.success
    retried = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert [e.step_key for e in retried] == ["evaluation_report"]
    assert "MLflow tracking store unavailable" in str(retried[0].event_specific_data.error.message) \
        or "MLflow tracking store unavailable" in str(retried[0].event_specific_data.error.cause)
    assert platform.registry.champion_version() in {"1", "2"}
