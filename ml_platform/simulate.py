"""`make simulate-drift`: land one drifted batch and let the running loop react.

With `make ui` running (daemon on), the new-data sensor ingests the batch and checks it for drift, the
retrain sensor retrains, and a better model is promoted and built into a new Bento; watch it in the UI.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ml_platform.lib.generator import Knobs
from ml_platform.lib.landing import land_generated, landed_files
from ml_platform.lib.spec import DatasetSpec, GeneratorSource, load_spec
from ml_platform.model_scope import ModelScope
from ml_platform.resources import PlatformStorage

DRIFT = Knobs(mean_shift={"income": 0.5, "spending_score": 0.5}, label_function="v2", corrupt_share=0.01)
# Per generator: what drift looks like in its own columns (the default for customer segmentation).
DRIFTS = {"iris": Knobs(mean_shift={"petal_length": 1.5, "petal_width": 1.5}, corrupt_share=0.01)}


def next_index(landing_dir: Path) -> int:
    numbers = [int(m.group(1)) for p in landed_files(landing_dir) if (m := re.match(r"batch-(\d+)", p.name))]
    return max(numbers, default=0) + 1


def land_drifted_batch(spec: DatasetSpec, landing_dir: Path, knobs: Knobs | None = None,
                       rows: int | None = None) -> Path:
    """The next `batch-<n>.csv`, drawn with the drift knobs (covariate and concept drift).

    By default it is as large as the initial batches together, so the retrained model has enough of
    the new world to beat the champion at the promotion gate; a smaller drifted batch is retrained on
    too, but the gate may rightly keep the champion.
    """
    if not isinstance(spec.source, GeneratorSource):
        raise SystemExit(f"{spec.name} is not a generated dataset; land a drifted file in {landing_dir} yourself")
    index = next_index(landing_dir)
    knobs = knobs or DRIFTS.get(spec.source.generator, DRIFT)
    rows = rows or spec.source.batches * spec.source.rows_per_batch
    return land_generated(spec, landing_dir, index, knobs, rows=rows, seed=spec.source.seed + 1000 + index)


def main() -> None:
    missing = [n for n in ("ML_PLATFORM_DATASET", "ML_PLATFORM_STORAGE") if not os.environ.get(n)]
    if missing:
        raise SystemExit(f"Set {missing} (the Makefile sets them from .env): run this through `make simulate-drift`.")
    spec = load_spec(os.environ["ML_PLATFORM_DATASET"])
    landing = PlatformStorage(data_dir=os.environ["ML_PLATFORM_STORAGE"]).landing_dir(spec)
    path = land_drifted_batch(spec, landing)
    knobs = DRIFTS.get(spec.source.generator, DRIFT)
    sensor = ModelScope(os.environ["ML_PLATFORM_DATASET"], os.environ.get("ML_PLATFORM_MODEL", "")).named
    print(f"landed {path} with {knobs.model_dump(exclude_defaults=True)}")
    print(f"With `make ui` running: Automation -> {sensor('new_data_sensor')}, then {sensor('retrain_sensor')}; "
          "Runs shows the retrain.")


if __name__ == "__main__":
    main()
