"""`make rollback`: move the champion back (`ml_platform.lib.rollback`) and journal the move.

    python -m ml_platform.rollback [--model NAME] [--to VERSION]

`--model` names one of the code location's models (`make rollback MODEL=...` sets it through
`ML_PLATFORM_MODEL`); it may be left out when there is one.

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
    parser.add_argument("--model", default=os.environ.get("ML_PLATFORM_MODEL", ""),
                        help="which of the code location's models (default: the only one)")
    args = parser.parse_args(argv)
    if (model := _model(args.model)) is None:
        return 2
    if (found := from_environment("make rollback", model.spec_path)) is None:
        return 2
    if not os.environ.get("DAGSTER_HOME"):
        print("Set DAGSTER_HOME (the Makefile does): the move is journalled in that instance.", file=sys.stderr)
        return 2
    registry, home = found
    with dg.DagsterInstance.get() as instance:
        try:
            move = rollback(registry, home, args.to, actor=f"make rollback ({getpass.getuser()})",
                            move=Journal(instance, history=model.key("model_alias_history")).move)
        except RollbackError as exc:
            print(f"rollback refused: {exc}", file=sys.stderr)
            return 1
    print(f"{registry.model_name}: champion moved from v{move.from_version} back to v{move.to_version}; "
          "running services follow within seconds.")
    return 0


def _model(name: str) -> ModelScope | None:
    """The model to roll back: the shortcut's spec, else the declared model `name` (or the only one)."""
    if spec_path := os.environ.get("ML_PLATFORM_DATASET"):
        return ModelScope(spec_path, name)
    from ml_platform.definitions import environment_models

    models = {model.name: model for model in environment_models()}
    if not name and len(models) == 1:
        return next(iter(models.values()))
    if name not in models:
        print(f"name the model to roll back with --model: one of {sorted(models)}", file=sys.stderr)
        return None
    return models[name]


if __name__ == "__main__":
    sys.exit(main())
