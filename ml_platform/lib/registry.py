"""The MLflow model registry, reduced to what the platform needs: versions and their aliases.

Promotion moves the alias in one registry call, so two retrains finishing together cannot leave a
half-set champion: the last call wins and each call is whole. A model is loaded from the artifact
store only if its bytes match the sha256 its version was tagged with when it was logged: the tag
lives in the registry's database, out of reach of whoever can write the artifact store.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

CHAMPION = "champion"
CHALLENGER = "challenger"  # a candidate judged on live traffic before it may become champion
MODEL_SHA256_TAG = "model_sha256"


class Registry:
    def __init__(self, tracking_uri: str, model_name: str):
        from mlflow import MlflowClient

        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def champion_version(self) -> str | None:
        """The version the alias points at, or None before the first promotion."""
        return self.alias_version(CHAMPION)

    def alias_version(self, alias: str) -> str | None:
        """The version `alias` names, or None if it names none."""
        return self.alias_tags(alias)[0]

    def alias_tags(self, alias: str) -> tuple[str | None, dict[str, str]]:
        """The version `alias` names and that version's tags, in one registry call ((None, {}) if none):
        a service reads a challenger's canary share on the same poll that follows the alias."""
        from mlflow.exceptions import MlflowException

        try:
            named = self.client.get_model_version_by_alias(self.model_name, alias)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None, {}
            raise
        return str(named.version), dict(named.tags)

    def set_champion(self, version: str) -> None:
        self.set_alias(CHAMPION, version)

    def set_alias(self, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(self.model_name, alias, version)

    def delete_alias(self, alias: str) -> None:
        if self.alias_version(alias) is not None:
            self.client.delete_registered_model_alias(self.model_name, alias)

    def version_tags(self, version: str) -> dict[str, str]:
        return dict(self.client.get_model_version(self.model_name, version).tags)

    def tag_version(self, version: str, tags: dict[str, Any]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(self.model_name, version, key, str(value))

    def load_model(self, version: str, expected_sha256: str | None = None) -> Any:
        """The version's fitted pipeline, checked against its sha256 tag and built by skops (no pickle)."""
        return self.load_logged(version, expected_sha256)[0]

    def load_logged(self, version: str, expected_sha256: str | None = None) -> tuple[Any, dict[str, Any]]:
        """The fitted pipeline and its MLmodel metadata (the dataset spec it was trained on).

        `expected_sha256` is the `model_sha256` tag a caller already read (the alias follower reads it
        with the alias), so the bytes loaded are the ones it named; else the tag is read here."""
        from mlflow.artifacts import download_artifacts
        from mlflow.models import Model

        from ml_platform.lib.mlflow_flavor import MODEL_FILE
        from ml_platform.lib.model_format import ModelIntegrityError, loads_verified

        where = f"models:/{self.model_name}/{version}"
        recorded = expected_sha256 or self.version_tags(version).get(MODEL_SHA256_TAG)
        if not recorded:
            raise ModelIntegrityError(f"{where}: no {MODEL_SHA256_TAG} tag to check it against, so it is not loaded")
        source = self.client.get_model_version_download_uri(self.model_name, version).rstrip("/")
        with tempfile.TemporaryDirectory() as folder:
            files = [download_artifacts(artifact_uri=f"{source}/{name}", dst_path=folder, tracking_uri=self.tracking_uri)
                     for name in (MODEL_FILE, "MLmodel")]
            data, metadata = Path(files[0]).read_bytes(), Model.load(files[1]).metadata or {}
        return loads_verified(data, recorded, where), dict(metadata)

def from_environment(command: str, spec_path: str | None = None) -> tuple[Registry, str] | None:
    """The registry of the spec's model (by default ML_PLATFORM_DATASET's) and the BentoML home, as the
    Makefile sets them for `command`; None (with the reason on stderr) when they are not set."""
    import os
    import sys

    from ml_platform.lib.spec import load_spec

    spec_path = spec_path or os.environ.get("ML_PLATFORM_DATASET")
    missing = [n for n in ("MLFLOW_TRACKING_URI", "BENTOML_HOME") if not os.environ.get(n)]
    if missing or not spec_path:
        print(f"Set {missing or ['ML_PLATFORM_DATASET']} (the Makefile does): run this through `{command}`.",
              file=sys.stderr)
        return None
    name = load_spec(spec_path).name
    return Registry(os.environ["MLFLOW_TRACKING_URI"], name), os.environ["BENTOML_HOME"]
