"""Adaptive batching really batches (bentoml#4670), on tabular records (#4633), without mixing answers up."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

from ml_platform.lib import model_store
from ml_platform.lib.features import add_features_to_rows
from ml_platform.lib.generator import customer_segmentation
from ml_platform.lib.served_model import from_store

CLIENTS, REQUESTS_EACH = 32, 12


def histogram(text: str, name: str) -> tuple[float, float, float]:
    """(count, sum, count of observations <= 1) of a histogram in Prometheus text."""
    def value(pattern: str) -> float:
        return sum(float(v) for v in re.findall(pattern + r"[^\n]* ([0-9.e+]+)\n", text))

    return value(rf"{name}_count\{{"), value(rf"{name}_sum\{{"), value(rf'{name}_bucket\{{le="1.0"')


def test_concurrent_single_record_requests_are_predicted_together_and_each_gets_its_own_answer(service, platform):
    records = json.loads(customer_segmentation(CLIENTS * REQUESTS_EACH, seed=3)[platform.spec.feature_names]
                         .to_json(orient="records"))
    with service.client() as client:
        before = histogram(client.get("/metrics").text, "ml_platform_batch_requests")

    def one_client(index: int) -> list[tuple[int, int, str, dict]]:
        answers = []
        with service.client() as client:
            for i in range(index, len(records), CLIENTS):
                response = client.post("/predict", json=records[i], headers={"x-request-id": f"req-{i}"})
                body = response.json()[0] if response.status_code == 200 else {}
                answers.append((i, response.status_code, body.get("request_id"), body.get("probabilities")))
        return answers

    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = [a for batch in pool.map(one_client, range(CLIENTS)) for a in batch]
    with service.client() as client:
        after = histogram(client.get("/metrics").text, "ml_platform_batch_requests")

    assert sorted(status for _, status, _, _ in answers) == [200] * len(records)
    assert all(request_id == f"req-{i}" for i, _, request_id, _ in answers)
    stored = model_store.find(platform.bentoml_home, "customer-segmentation:v1")
    expected = from_store(stored).predict(add_features_to_rows(platform.spec, records))
    assert all(probabilities == expected[i][1] for i, _, _, probabilities in answers)

    calls, merged_requests, single_calls = (a - b for a, b in zip(after, before))
    assert merged_requests == len(records)
    assert calls < merged_requests and single_calls < calls, (calls, merged_requests, single_calls)
    print(f"{merged_requests:.0f} requests in {calls:.0f} model calls, {calls - single_calls:.0f} of them batched")
