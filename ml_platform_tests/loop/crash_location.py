"""The code location the crash test's sensor daemon loads: the platform under one root directory.

The test sets ML_PLATFORM_LOOP_TEST_ROOT; every spawned daemon process loads the same definitions.
"""

import os
from pathlib import Path

from ml_platform.definitions import build_defs, platform_resources
from ml_platform.loop_resources import loop_resources

ROOT = Path(os.environ["ML_PLATFORM_LOOP_TEST_ROOT"])

defs = build_defs({
    **platform_resources(spec_path=str(ROOT / "spec.yaml"), data_dir=str(ROOT / "data"),
                         tracking_uri=f"sqlite:///{ROOT / 'mlflow.db'}", artifact_root=str(ROOT / "artifacts"),
                         bentoml_home=str(ROOT / "bentoml")),
    **loop_resources(str(ROOT / "data"), inference_log_dir=str(ROOT / "inference_log"), labels_dir=str(ROOT / "labels")),
})
