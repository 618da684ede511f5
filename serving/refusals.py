"""Which model version each role refused to serve, and why: what /readyz and the metrics report.

A refusal lasts until that role serves what its alias names again: a good version loaded, or the
alias moved back to the version already served (a rollback).
"""

from __future__ import annotations

from ml_platform.lib.model_store import ModelIntegrityError, ModelNotInStore
from serving.metrics import metrics


class IncompatibleModel(ValueError):
    """The model expects other features than the request type this service was started with."""


class AliasRemoved(LookupError):
    """The champion alias names no version; the service keeps the champion it has."""


REASONS = ((ModelIntegrityError, "checksum_mismatch"), (ModelNotInStore, "not_in_store"),
           (IncompatibleModel, "incompatible"), (AliasRemoved, "alias_removed"))


def reason_for(exc: Exception) -> str:
    return next((reason for kind, reason in REASONS if isinstance(exc, kind)), "load_error")


class Refusals:
    def __init__(self) -> None:
        self.by_role: dict[str, dict[str, str]] = {}

    def refuse(self, role: str, version: str, exc: Exception) -> None:
        self.clear(role)
        reason = reason_for(exc)
        self.by_role[role] = {"role": role, "model_version": version, "reason": reason, "detail": str(exc)[:300]}
        metrics().refused.labels(role=role, model_version=version, reason=reason).set(1)

    def clear(self, role: str) -> None:
        if (refusal := self.by_role.pop(role, None)) is not None:
            metrics().refused.labels(role=role, model_version=refusal["model_version"], reason=refusal["reason"]).set(0)

    def listed(self) -> list[dict[str, str]]:
        return list(self.by_role.values())
