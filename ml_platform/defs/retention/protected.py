"""What the instance and the storage say must stay, whatever its age: each check names its reason.

Every check costs a bounded number of queries: the window is read as `training_set` reads it (newest
partitions only), ingestion is looked up for the old landed files only, and the journal is read with
its own limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import dagster as dg

from ml_platform.defs.promotion.alias_history import recorded_moves
from ml_platform.defs.training.window import window_from_records
from ml_platform.lib.registry import CHALLENGER, CHAMPION
from ml_platform.lib.retention_files import Listed
from ml_platform.lib.retention_models import rollback_targets
from ml_platform.model_scope import ModelScope

IN_WINDOW = "in the training window"
NOT_INGESTED = "ingestion not finished (no raw_data materialized since the file was written)"
LABEL_WAIT = "not consumed yet: its label wait is open"
PENDING_LABELS = "a log file not consumed yet may need its labels"
CURRENT_REFERENCE = "the current reference_profile's sample"
CLOCK_MARGIN_SECONDS = 3600.0  # as closed_files_since: storage and writers may disagree on the time
_STAMP = re.compile(r"^inference-(\d{8}T\d{6}\.\d{6})-")


def landed_protection(instance: dg.DagsterInstance, model: ModelScope,
                      old: list[Listed]) -> Callable[[Listed], str | None]:
    """Keep the batches `training_set` would read and any file whose ingestion has not succeeded since it
    was written (new content under an old name counts as not ingested)."""
    window = set(window_from_records(instance, model, model.spec()).batches)
    keys, raw_data = {f.path.name for f in old}, model.key("raw_data")
    ids = instance.get_latest_storage_id_by_partition(
        raw_data, dg.DagsterEventType.ASSET_MATERIALIZATION, keys) if keys else {}
    ingested_at = {}
    if ids:
        records = instance.fetch_materializations(dg.AssetRecordsFilter(
            asset_key=raw_data, storage_ids=list(ids.values())), limit=len(ids)).records
        ingested_at = {r.asset_materialization.partition: r.timestamp for r in records}

    def protect(listed: Listed) -> str | None:
        if listed.path.name in window:
            return IN_WINDOW
        if ingested_at.get(listed.path.name, float("-inf")) < listed.modified:
            return NOT_INGESTED
        return None

    return protect


def oldest_pending(pending: list[Listed]) -> float:
    """When the oldest file still waiting for labels was opened (its stem says, before any of its records
    was answered; a name this layout did not make: its last write); +inf when nothing waits."""
    def opened(listed: Listed) -> float:
        match = _STAMP.match(listed.path.name)
        if match is None:
            return listed.modified
        return datetime.strptime(match[1], "%Y%m%dT%H%M%S.%f").replace(tzinfo=timezone.utc).timestamp()

    return min((opened(p) for p in pending), default=float("inf"))


def label_protection(pending: list[Listed]) -> Callable[[Listed], str | None]:
    """A label is written after the answer it labels: one written before the oldest pending file was
    opened labels none of its records. The margin covers a writer's clock ahead of the storage's."""
    since = oldest_pending(pending) - CLOCK_MARGIN_SECONDS
    return lambda listed: PENDING_LABELS if listed.modified >= since else None


def needed_versions(instance: dg.DagsterInstance, model: ModelScope, registry: Any, reference: dict | None,
                    depth: int) -> dict[str, str]:
    """Version -> why it must stay: the aliases, the rollback targets, the drift reference's model."""
    champion, challenger = registry.champion_version(), registry.alias_version(CHALLENGER)
    needed = {}
    if reference and reference.get("model", {}).get("version"):
        needed[str(reference["model"]["version"])] = "the drift reference's model"
    previous = registry.version_tags(champion).get("previous_champion", "") if champion else ""
    for version in rollback_targets(recorded_moves(instance, history=model.key("model_alias_history")), champion, previous, depth):
        needed[version] = "a rollback target"
    if challenger:
        needed[challenger] = CHALLENGER
    if champion:
        needed[champion] = CHAMPION
    return needed
