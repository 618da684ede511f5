"""The served model's call by batch size: scikit-learn's pipeline against the compiled forest's two ways.

    make run && make bench-forest        (or: .venv/bin/python benchmarks/forest.py)

A service at moderate load runs batches of one to a few rows, so what a batch costs whatever its size
is what each request pays there. On the `make run` champion (gradient boosting), per call of each batch
size: scikit-learn's own `predict_proba` on the fitted pipeline (the baseline), the compiled forest
walking all trees a level at a time (`CompiledForest.walk`, kept for trees over 64 leaves), and the
leaf masks the service uses (`forest_masks.py`). Every figure is the median of `--repeats` timed calls,
after checking that all three give the same probabilities on those rows.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the repo's packages

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks import loadgen  # noqa: E402
from benchmarks.serving import FEATURES, MODEL_TAG, SPEC  # noqa: E402
from ml_platform.lib.compiled_forest import CompiledBoosting  # noqa: E402
from ml_platform.lib.features import add_features_to_rows  # noqa: E402


def median_us(call, repeats: int) -> float:
    call()
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    import bentoml

    from ml_platform.lib.served_model import from_store

    served = from_store(bentoml.models.get(MODEL_TAG))
    if not isinstance(served.compiled, CompiledBoosting) or served.compiled.forest.masks is None:
        sys.exit(f"{MODEL_TAG} is not a gradient-boosting champion served through leaf masks: nothing to compare")
    compiled, masks = served.compiled, served.compiled.forest
    walk = dataclasses.replace(masks, masks=None)
    rows = add_features_to_rows(SPEC, [json.loads(b) for b in loadgen.payloads(FEATURES, 64)])
    print(f"{MODEL_TAG} (v{served.version}): {len(masks.roots)} trees, up to {masks.depth} levels deep; "
          f"median of {args.repeats} calls each, one run.\n")
    print("| rows per call | scikit-learn us | level walk us | leaf masks us | masks vs scikit-learn | masks vs walk |")
    print("|---|---|---|---|---|---|")
    for batch in (1, 2, 4, 8, 32):
        frame, matrix = pd.DataFrame(rows[:batch], columns=served.columns), compiled.transform(rows[:batch])
        expected = served.model.predict_proba(frame)
        for forest in (masks, walk):
            np.testing.assert_allclose(forest.predict_proba(matrix), expected, rtol=0, atol=1e-12)
        with served.threads():
            baseline = median_us(lambda: served.model.predict_proba(frame), args.repeats)
        walked = median_us(lambda: walk.predict_proba(compiled.transform(rows[:batch])), args.repeats)
        masked = median_us(lambda: masks.predict_proba(compiled.transform(rows[:batch])), args.repeats)
        print(f"| {batch} | {baseline:,.0f} | {walked:,.0f} | {masked:,.0f} | {baseline / masked:.1f}x faster "
              f"| {walked / masked:.1f}x faster |")


if __name__ == "__main__":
    main()
