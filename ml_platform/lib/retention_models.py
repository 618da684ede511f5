"""Which model versions stay, and removing the others from the MLflow registry and its artifact store.

A version stays when something can still ask for it: an alias (champion, challenger), a rollback
(the champion's `previous_champion` tag, and the journal's earlier champions up to `rollback_depth`),
the drift reference's model, or it is among the newest `model_versions` (a retrain in flight loads its
candidate by version). The rest are deleted from the registry, and their model files from the artifact
store: MLflow's `delete_model_version` removes the registry entry only, and the files are the bytes.
The MLflow run (params, metrics, plots) is kept: it is the experiment's history and costs little.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ml_platform.lib.alias_moves import AliasMove
from ml_platform.lib.registry import CHAMPION
from ml_platform.lib.retention import Swept


def rollback_targets(moves: Iterable[AliasMove], champion: str | None, previous_tag: str, depth: int) -> list[str]:
    """At most `depth` earlier champions, newest first: the champion's recorded predecessor (what `make
    rollback` goes to), then the journal's latest earlier champions (what `make rollback TO=` may name)."""
    earlier = [previous_tag] if previous_tag else []
    for move in sorted((m for m in moves if m.alias == CHAMPION and m.to_version), key=lambda m: m.at, reverse=True):
        if move.to_version != champion and move.to_version not in earlier and len(earlier) < depth:
            earlier.append(move.to_version)
    return earlier


def versions_to_keep(versions: Iterable[str], needed: dict[str, str], newest: int) -> dict[str, str]:
    """Version -> why it stays: what `needed` names, else being among the newest `newest`."""
    ordered = sorted(versions, key=int, reverse=True)
    keep = {v: needed[v] for v in ordered if v in needed}
    for version in ordered[:newest]:
        keep.setdefault(version, f"among the newest {newest}")
    return keep


def prune_registry(registry: Any, needed: dict[str, str], newest: int, dry_run: bool = False) -> tuple[Swept, set[str]]:
    """Delete every version not kept (never one with an alias); returns the outcome and the versions left.

    A version kept only because something needs it is counted as refused, with that reason."""
    swept, left = Swept("model_versions"), set()
    found = registry.client.search_model_versions(f"name='{registry.model_name}'")
    numbers = [str(v.version) for v in found]
    keep = versions_to_keep(numbers, needed, newest)
    newest_ones = set(sorted(numbers, key=int, reverse=True)[:newest])
    kept_sources = {_artifacts_uri(registry, n) for n in numbers if n in keep}
    for version, number in zip(found, numbers):
        if number in keep or version.aliases:
            swept.keep(version.creation_timestamp / 1000)
            if number not in newest_ones:
                swept.refused[keep.get(number) or "it has an alias"] += 1
            left.add(number)
            continue
        uri = _artifacts_uri(registry, number)
        size = _size(uri)
        if dry_run:
            left.add(number)
        else:
            registry.client.delete_model_version(registry.model_name, number)
            if uri not in kept_sources:  # never the files a kept version was registered from too
                _repository(uri).delete_artifacts()
        swept.removed += 1
        swept.removed_bytes += size
    return swept, left


def _artifacts_uri(registry: Any, version: str) -> str:
    return registry.client.get_model_version_download_uri(registry.model_name, version).rstrip("/")


def _repository(uri: str) -> Any:
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    return get_artifact_repository(uri)


def _size(uri: str) -> int:
    """Bytes under the version's artifact folder (a handful of files: one listing per folder)."""
    repository, total, folders = _repository(uri), 0, [None]
    while folders:
        for info in repository.list_artifacts(folders.pop()):
            if info.is_dir:
                folders.append(info.path)
            else:
                total += info.file_size or 0
    return total
