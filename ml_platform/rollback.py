"""`make rollback`: move the champion back (`ml_platform.lib.rollback`) and journal the move.

    python -m ml_platform.rollback [--to VERSION]

The move is recorded in the Dagster instance (`DAGSTER_HOME`) as a materialization of
`model_alias_history`, through the same crash-safe journal promotions use (intent, move, entry), so
the UI lists operator moves too.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

import dagster as dg

from ml_platform.defs.promotion.alias_history import Journal
from ml_platform.lib.registry import from_environment
from ml_platform.lib.rollback import RollbackError, rollback
from ml_platform.model_scope import ModelScope


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Move the champion alias back to the previous version.")
    parser.add_argument("--to", help="the MLflow model version to make champion (default: the previous one)")
    args = parser.parse_args(argv)
    if (found := from_environment("make rollback")) is None:
        return 2
    if not os.environ.get("DAGSTER_HOME"):
        print("Set DAGSTER_HOME (the Makefile does): the move is journalled in that instance.", file=sys.stderr)
        return 2
    registry, home = found
    with dg.DagsterInstance.get() as instance:
        try:
            move = rollback(registry, home, args.to, actor=f"make rollback ({getpass.getuser()})",
                            move=Journal(instance, history=_history()).move)
        except RollbackError as exc:
            print(f"rollback refused: {exc}", file=sys.stderr)
            return 1
    print(f"{registry.model_name}: champion moved from v{move.from_version} back to v{move.to_version}; "
          "running services follow within seconds.")
    return 0


def _history() -> dg.AssetKey:
    """The model's journal: `ML_PLATFORM_MODEL` names a component model (`make rollback MODEL=...`)."""
    return ModelScope(os.environ["ML_PLATFORM_DATASET"], os.environ.get("ML_PLATFORM_MODEL", "")).key(
        "model_alias_history")


if __name__ == "__main__":
    sys.exit(main())
