"""How a batch is answered when a canary share is set, and the other model's answer added to the log.

A canary record is answered by the challenger; the rest, and canary records the challenger fails, by
the champion. After the records are logged, on the log writer's thread, each gets the answer of the
model that did not answer it, so the live comparison pairs both models on every record.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from ml_platform.lib.canary import ANSWERED_BY
from ml_platform.lib.features import add_features_to_rows
from ml_platform.lib.served_model import ServedModel

logger = logging.getLogger(__name__)


class Answering:
    def __init__(self, metrics: Callable[[], Any]):
        self.metrics = metrics
        self._canary_failures = 0

    def answer(self, champion: ServedModel, challenger: ServedModel | None, rows: list[dict],
                canary: list[int]) -> tuple[list[ServedModel], list[tuple[str, Any]], list[int]]:
        """Who answers each row and what: the challenger its canary rows, the champion the rest and any
        canary rows the challenger fails (returned, counted and marked in the log: the client still gets
        an answer, and the decision counts each as one the challenger failed to answer)."""
        if not canary:
            answers = champion.predict(rows)
            self.count(answers, champion, "champion")
            return [champion] * len(rows), answers, []
        models: list[ServedModel] = [champion] * len(rows)
        answers: list[Any] = [None] * len(rows)
        failed: list[int] = []
        try:
            given = challenger.predict(add_features_to_rows(challenger.spec, [rows[i] for i in canary]))
        except Exception as exc:
            failed = canary
            self.metrics().canary_fallbacks.inc(len(canary))
            self._canary_failures += 1
            if self._canary_failures % 1000 == 1:  # a broken challenger fails every call: log, don't flood
                logger.warning(f"canary: challenger v{challenger.version} failed ({self._canary_failures} times so "
                               f"far); the champion answered instead: {exc}")
        else:
            for index, answer in zip(canary, given):
                models[index], answers[index] = challenger, answer
            self.count(given, challenger, "canary")
        rest = [index for index, model in enumerate(models) if model is champion]
        if rest:
            own = champion.predict([rows[i] for i in rest])
            for index, answer in zip(rest, own):
                answers[index] = answer
            self.count(own, champion, "champion")
        return models, answers, failed

    def add_other_answers(self, champion: ServedModel, shadow: ServedModel, logged: list[dict]) -> None:
        """Runs on the writer thread after the answered records exist: each record gets the answer of the
        model that did not answer it, so every record pairs both (a shadow costs callers nothing). The
        champion's answers to canary records come first: a challenger that raises loses only its own."""
        canary = [record for record in logged if record.get(ANSWERED_BY) == "challenger"]
        if canary:
            self.add_shadow_answers(champion, canary)
        rest = [record for record in logged if ANSWERED_BY not in record and not record.get("challenger_failed")]
        if rest:
            self.add_shadow_answers(shadow, rest)

    def add_shadow_answers(self, shadow: ServedModel, logged: list[dict]) -> None:
        """The shadow's answers, with its derived features computed by its own spec: a challenger may
        engineer features the champion does not. A shadow that raises is counted by the writer."""
        answers = shadow.predict(add_features_to_rows(shadow.spec, [record["inputs"] for record in logged]))
        for record, (label, probabilities) in zip(logged, answers):
            record["shadow"] = {"model_version": shadow.version, "model_sha256": shadow.sha256, "prediction": label,
                                "probabilities": probabilities}
        self.count(answers, shadow, "shadow")

    def count(self, answers: list[tuple[str, Any]], model: ServedModel, role: str) -> None:
        for label, count in Counter(label for label, _ in answers).items():
            self.metrics().predictions.labels(label=label, model_version=model.version, role=role).inc(count)
