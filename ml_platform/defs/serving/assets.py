import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import dagster as dg
from upath import UPath

from ml_platform.lib.retention_stores import archive_name
from ml_platform.lib.champion_bento import MODEL_TAG_LABEL, bento_for
from ml_platform.lib.storage import is_remote
from ml_platform.model_scope import ModelScope
from ml_platform.resources import BentoStore, PlatformStorage

MODEL_TAG_ENV = "ML_PLATFORM_MODEL_TAG"


def bento_asset(model: ModelScope) -> dg.AssetsDefinition:
    @dg.asset(
        key=model.key("bento"),
        ins={"promoted_model": dg.AssetIn(key=model.key("promoted_model"))},
        group_name=model.named("serving"),
        kinds={"bentoml"},
        io_manager_key="json_io_manager",
        owners=["team:ml-platform"],
        code_version="1",
    )
    def bento(context: dg.AssetExecutionContext, promoted_model: dict, bento_store: BentoStore,
              storage: PlatformStorage) -> dg.Output[dict]:
        """The Bento of `serving/` with the champion inside, ready for `bentoml serve` or a container image.

        Built once per champion: a Bento already built for this model is reused. Its `model_tag` label
        is how the served Bento (or a container built from it) knows its own model, with no setting. The
        Bento is also exported to `<storage>/bentos/<dataset>/`: a run pod's BentoML home dies with the pod,
        so that archive is what an image build (`bentoml import` + `containerize`) starts from.
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
        archive = export_archive(existing, home, storage.scoped(model).root / "bentos" / model.spec().name,
                                 promoted_model["champion_version"])
        return dg.Output({"bento_tag": tag, "model_tag": model_tag, "path": existing.path, "archive": str(archive)},
                         data_version=dg.DataVersion(tag), metadata={
            "bento_tag": tag,
            "model_tag": model_tag,
            "champion_version": promoted_model["champion_version"],
            "bento_path": dg.MetadataValue.path(existing.path),
            "bento_archive": dg.MetadataValue.path(str(archive)),
            "serve": dg.MetadataValue.md(f"`BENTOML_HOME={home} bentoml serve {tag} --host 127.0.0.1`"),
        })

    return bento


def export_archive(built, home: str, folder: UPath, model_version: str) -> UPath:
    """`<folder>/v<model version>-<name>-<version>.bento` (BentoML's export format), written once per
    Bento; the name lets retention keep the archives of versions still needed. Exported by BentoML's CLI
    with this store's home: an export resolves the Bento's models in its process's home."""
    archive = folder / archive_name(model_version, built.tag.name, built.tag.version)
    if archive.exists():
        return archive
    with tempfile.TemporaryDirectory(prefix="bento-export-") as local:
        exported = os.path.join(local, archive.name)
        command = [sys.executable, "-m", "bentoml", "export", str(built.tag), exported]
        done = subprocess.run(command, env={**os.environ, "BENTOML_HOME": home, "BENTOML_DO_NOT_TRACK": "True"},
                              capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise dg.Failure(f"bentoml export failed ({done.returncode}):\n{done.stderr[-4000:]}")
        if is_remote(archive):
            archive.fs.put_file(exported, archive.path)  # one object, whole or absent
        else:  # copied beside its final name, then renamed: never half an archive
            archive.parent.mkdir(parents=True, exist_ok=True)
            partial = archive.with_name(f".{archive.name}.partial")
            shutil.copyfile(exported, partial)
            os.replace(partial, archive)
    return archive
