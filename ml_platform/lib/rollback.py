"""`make rollback`: move the MLflow `champion` alias back to the version it replaced.

    python -m ml_platform.lib.rollback [--to VERSION]

Promotion tags each champion with `previous_champion`; rolling back follows that tag (or goes to
`--to`). Only a version that is in the BentoML store and passes its checksum can become champion
again, because that is where running services load it from; they follow the alias on their next
poll, without a restart. On Kubernetes it runs in the code location's pod, which has the same
registry and store (deploy/README.md).
"""

from __future__ import annotations

import argparse
import sys

from ml_platform.lib import model_store
from ml_platform.lib.promotion import verify_stored
from ml_platform.lib.registry import Registry, from_environment


class RollbackError(RuntimeError):
    """No version to go back to, or that version cannot be served."""


def rollback(registry: Registry, bentoml_home: str, to: str | None = None) -> tuple[str, str]:
    """Point `champion` at `to` (default: the current champion's predecessor); returns (from, to)."""
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
    registry.set_champion(target)
    registry.tag_version(target, {"rolled_back_from": current})
    return current, target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Move the champion alias back to the previous version.")
    parser.add_argument("--to", help="the MLflow model version to make champion (default: the previous one)")
    args = parser.parse_args(argv)
    if (found := from_environment("make rollback")) is None:
        return 2
    registry, home = found
    try:
        old, new = rollback(registry, home, args.to)
    except RollbackError as exc:
        print(f"rollback refused: {exc}", file=sys.stderr)
        return 1
    print(f"{registry.model_name}: champion moved from v{old} back to v{new}; running services follow within seconds.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
