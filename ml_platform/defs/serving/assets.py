import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from ml_platform.lib.champion_bento import MODEL_TAG_LABEL, bento_for
from ml_platform.resources import BentoStore, DatasetResource

MODEL_TAG_ENV = "ML_PLATFORM_MODEL_TAG"


@dg.asset(
    group_name="serving",
    kinds={"bentoml"},
    io_manager_key="json_io_manager",
    owners=["team:ml-platform"],
    code_version="1",
)
def bento(context: dg.AssetExecutionContext, promoted_model: dict, dataset: DatasetResource,
          bento_store: BentoStore) -> dg.Output[dict]:
    """The Bento of `serving/` with the champion inside, ready for `bentoml serve` or a container image.

    Built once per champion: a Bento already built for this model is reused. Its `model_tag` label
    is how the served Bento (or a container built from it) knows its own model, with no setting.
    """
    model_tag = promoted_model["bento_model_tag"]
    home = bento_store.home_path
    existing = bento_for(home, model_tag)
    if existing is None:
        env = {**os.environ, "BENTOML_HOME": home, MODEL_TAG_ENV: model_tag, "BENTOML_DO_NOT_TRACK": "True"}
        bentofile = Path(bento_store.project_dir) / "serving" / "bentofile.yaml"
        command = [sys.executable, "-m", "bentoml", "build", "-f", str(bentofile), "--output", "tag",
                   "--label", f"{MODEL_TAG_LABEL}={model_tag}", bento_store.project_dir]
        built = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        if built.returncode != 0:
            raise dg.Failure(f"bentoml build failed ({built.returncode}):\n{built.stderr[-4000:]}")
        existing = bento_for(home, model_tag)
        if existing is None:
            raise dg.Failure(f"bentoml build reported success but no Bento for {model_tag} is in {home}")
        context.log.info(f"built {existing.tag}")
    else:
        context.log.info(f"reusing {existing.tag}, already built for {model_tag}")
    tag = str(existing.tag)
    return dg.Output({"bento_tag": tag, "model_tag": model_tag, "path": existing.path},
                     data_version=dg.DataVersion(tag), metadata={
        "bento_tag": tag,
        "model_tag": model_tag,
        "champion_version": promoted_model["champion_version"],
        "bento_path": dg.MetadataValue.path(existing.path),
        "serve": dg.MetadataValue.md(f"`BENTOML_HOME={home} bentoml serve {tag} --host 127.0.0.1`"),
    })

