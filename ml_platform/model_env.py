"""The environment of one model, for the Makefile's per-model commands (`make serve MODEL=iris`, ...).

    eval "$(python -m ml_platform.model_env [NAME])"
    python -m ml_platform.model_env --list          # the models' names, one per line

Prints `export` lines naming the model's spec, its storage folder and its Dagster name, as the code
location's component declares them (`defs/models/<name>/`); with no name, the first model. Prints nothing
when `ML_PLATFORM_DATASET` already names one spec (the single-model shortcut).
"""

from __future__ import annotations

import os
import shlex
import sys
import warnings

from ml_platform.lib.storage import STORAGE_ENV, as_uri, storage_path


def main(argv: list[str]) -> int:
    if os.environ.get("ML_PLATFORM_DATASET"):
        return 0
    warnings.filterwarnings("ignore")
    from ml_platform.definitions import declared_models
    from ml_platform.model_scope import models_of

    models = {m.name: m for m in models_of(declared_models())}
    if argv[:1] == ["--list"]:
        print("\n".join(models))
        return 0
    name = argv[0] if argv and argv[0] else next(iter(models), "")
    if name not in models:
        print(f"no model named {name!r}; the models are {sorted(models)} (ml_platform/defs/models/)", file=sys.stderr)
        return 2
    model = models[name]
    root = as_uri(model.folder(storage_path(os.environ.get(STORAGE_ENV) or "data")))
    for variable, value in (("ML_PLATFORM_DATASET", model.spec_path), (STORAGE_ENV, root),
                            ("ML_PLATFORM_MODEL", model.name)):
        print(f"export {variable}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
