"""The BentoML model store as the serving side sees it: champions saved with labels and a checksum.

A stored model is written to BentoML's staging area and only enters the store when the `with` block
exits cleanly, so a promotion that fails part-way leaves no model behind. Models are skops files
(`model_format`), loaded only if their bytes match the sha256 recorded when they were staged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ml_platform.lib.model_format import ModelIntegrityError, dumps, loads_verified, sha256

MODEL_FILE = "model.skops"
SPEC_FILE = "spec.json"
# The registry's `model_sha256` of the version a stored model was promoted from: the store's own
# `sha256` covers its re-serialized bytes, this label names which logged model they are.
REGISTRY_SHA256_LABEL = "model_sha256"


class ModelNotInStore(LookupError):
    """The registry names a version the BentoML store does not hold (yet)."""


def _store(home: str):
    from bentoml._internal.models import ModelStore

    return ModelStore(os.path.join(home, "models"))


def tag_for(model_name: str, mlflow_version: str) -> str:
    return f"{model_name}:v{mlflow_version}"


@contextmanager
def staged_champion(home: str, model_name: str, mlflow_version: str, model: Any, spec_json: str,
                    labels: dict[str, str], metadata: dict[str, Any]) -> Iterator[str]:
    """Stage the model; it is committed to the store only if the caller's block succeeds.

    A tag already in the store is kept if it holds the same model. skops bytes cannot say so (they
    carry object ids and uninitialised padding of tree nodes), so the two models' answers are compared.
    """
    import bentoml

    tag = tag_for(model_name, mlflow_version)
    existing = find(home, tag)
    if existing is not None:
        if not _same_answers(load_verified(existing.path, existing.info.metadata.get("sha256")), model, spec_json):
            raise ModelIntegrityError(f"{tag} is already in the store holding a different model")
        yield tag
        return
    payload = dumps(model, where=tag)
    checksum = sha256(payload)
    with bentoml.models.create(
        tag, labels={**labels, "mlflow_version": mlflow_version},
        metadata={**metadata, "sha256": checksum}, _model_store=_store(home),
    ) as stored:
        Path(stored.path_of(MODEL_FILE)).write_bytes(payload)
        Path(stored.path_of(SPEC_FILE)).write_text(spec_json)
        yield tag


def registry_sha256(stored: Any) -> str:
    """The registry's model_sha256 recorded at promotion ("" for a model staged before it was recorded)."""
    return stored.info.labels.get(REGISTRY_SHA256_LABEL, "")


def find(home: str, tag: str) -> Any | None:
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        return bentoml.models.get(tag, _model_store=_store(home))
    except NotFound:
        return None


def list_versions(home: str, model_name: str) -> list[Any]:
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        return bentoml.models.list(model_name, _model_store=_store(home))
    except NotFound:
        return []


def load_verified(model_dir: str, expected_sha256: str | None) -> Any:
    """Load a stored model only if its bytes hash to what promotion recorded."""
    path = os.path.join(model_dir, MODEL_FILE)
    return loads_verified(Path(path).read_bytes(), expected_sha256, path)


def _same_answers(stored: Any, model: Any, spec_json: str) -> bool:
    """The same classes and exactly the same probabilities on rows covering every category and range."""
    import numpy as np
    import pandas as pd

    from ml_platform.lib.compiled_pipeline import probe_rows
    from ml_platform.lib.features import model_spec
    from ml_platform.lib.spec import DatasetSpec

    spec = model_spec(DatasetSpec.model_validate_json(spec_json))
    rows = pd.DataFrame(probe_rows(spec), columns=spec.feature_names)
    return list(stored.classes_) == list(model.classes_) and \
        np.array_equal(stored.predict_proba(rows), model.predict_proba(rows))


def read_spec_json(model_dir: str) -> dict[str, Any]:
    return json.loads(Path(model_dir, SPEC_FILE).read_text())
