"""`make rollback`: move the MLflow `champion` alias back to the version it replaced.

    python -m ml_platform.rollback [--to VERSION]

Promotion tags each champion with `previous_champion`; rolling back follows that tag (or goes to
`--to`). Only a version that is in the BentoML store and passes its checksum can become champion
again, because that is where running services load it from; they follow the alias on their next
poll, without a restart. On Kubernetes it runs in the code location's pod, which has the same
registry and store (deploy/README.md).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ml_platform.lib import model_store
from ml_platform.lib.alias_moves import AliasMove, move_alias
from ml_platform.lib.promotion import verify_stored
from ml_platform.lib.registry import CHAMPION, Registry


class RollbackError(RuntimeError):
    """No version to go back to, or that version cannot be served."""


def rollback(registry: Registry, bentoml_home: str, to: str | None = None, actor: str = "make rollback",
             move: Callable[[Registry, str, str, str, str], AliasMove] = move_alias) -> AliasMove:
    """Point `champion` at `to` (default: the current champion's predecessor); returns the move.

    `move` makes the move: `ml_platform.rollback` passes the alias journal's, which records it."""
    current = registry.champion_version()
    if current is None:
        raise RollbackError(f"{registry.model_name} has no champion to roll back from")
    target = to or registry.version_tags(current).get("previous_champion", "")
    if not target:
        raise RollbackError(f"v{current} has no previous champion recorded; name one with --to")
    if target == current:
        raise RollbackError(f"v{target} is already the champion")
    try:
        verify_stored(bentoml_home, model_store.tag_for(registry.model_name, target))
    except (model_store.ModelNotInStore, model_store.ModelIntegrityError) as exc:
        raise RollbackError(f"v{target} cannot be served: {exc}") from exc
    moved = move(registry, CHAMPION, target, actor, f"rolled back from v{current}")
    registry.tag_version(target, {"rolled_back_from": current})
    return moved
