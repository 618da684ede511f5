"""The BentoML model store as the serving side sees it: champions saved with labels and a checksum.

A stored model is written to BentoML's staging area and only enters the store when the `with` block
exits cleanly, so a promotion that fails part-way leaves no model behind.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MODEL_FILE = "model.joblib"
SPEC_FILE = "spec.json"


class ModelIntegrityError(RuntimeError):
    """The stored model's bytes do not match the checksum recorded at promotion."""


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
    """Stage the model; it is committed to the store only if the caller's block succeeds."""
    import bentoml
    import joblib

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    payload = buffer.getvalue()
    checksum = hashlib.sha256(payload).hexdigest()
    tag = tag_for(model_name, mlflow_version)
    existing = find(home, tag)
    if existing is not None:
        if existing.info.metadata.get("sha256") != checksum:
            raise ModelIntegrityError(f"{tag} is already in the store with different bytes")
        yield tag
        return
    with bentoml.models.create(
        tag, labels={**labels, "mlflow_version": mlflow_version},
        metadata={**metadata, "sha256": checksum}, _model_store=_store(home),
    ) as stored:
        Path(stored.path_of(MODEL_FILE)).write_bytes(payload)
        Path(stored.path_of(SPEC_FILE)).write_text(spec_json)
        yield tag


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


def load_verified(model_dir: str, expected_sha256: str, loader: Callable[[str], Any] | None = None) -> Any:
    """Load a stored model only if its bytes hash to what promotion recorded."""
    import joblib

    path = os.path.join(model_dir, MODEL_FILE)
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    if digest != expected_sha256:
        raise ModelIntegrityError(f"{path}: sha256 {digest} does not match the recorded {expected_sha256}")
    return (loader or joblib.load)(path)


def read_spec_json(model_dir: str) -> dict[str, Any]:
    return json.loads(Path(model_dir, SPEC_FILE).read_text())
