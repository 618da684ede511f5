"""Models as bytes: skops, which rebuilds only types on an allow-list, never pickle.

A writable model store or artifact store must not be a way to run code in every process that loads
a model. So models are written with skops, and a load checks two things before it builds anything:
the bytes hash to the sha256 recorded when they were written, and every type they name is one that
skops trusts by itself (scikit-learn's estimators, builtins, numpy arrays) or one in TRUSTED_TYPES;
and one after: every decision tree's structure is one scikit-learn builds (`tree_check.py`).
"""

from __future__ import annotations

import hashlib
import zipfile
from typing import Any

# What `build_pipeline` needs beyond skops' defaults (ml_platform_tests/test_model_format.py derives it
# from every estimator). skops leaves `Tree` and gradient boosting's `TreePredictor` out by default because
# a crafted tree can crash `predict`; every load checks each tree's structure before the model is used
# (`tree_check.py`). Gradient boosting's own ordinal encoding validates its numbers with
# `partial(check_array, ...)`: a partial's function and arguments are still checked against this list.
TRUSTED_TYPES = ("functools.partial", "numpy.dtype", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
                 "sklearn.tree._tree.Tree", "sklearn.utils.validation.check_array")


class ModelIntegrityError(RuntimeError):
    """The model's bytes do not match the checksum recorded when it was saved (or none was recorded)."""


class UntrustedTypesError(TypeError):
    """The model holds types outside the allow-list; `types` names them."""

    def __init__(self, where: str, types: list[str]):
        super().__init__(f"{where}: holds types that are not trusted: {', '.join(types)}")
        self.types = types


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dumps(model: Any, where: str = "model") -> bytes:
    """The model as skops bytes (deflated: a forest shrinks about 6x), refused if it holds an untrusted type."""
    import skops.io

    data = skops.io.dumps(model, compression=zipfile.ZIP_DEFLATED)
    untrusted = _untrusted(data)
    if untrusted:
        raise UntrustedTypesError(where, untrusted)
    return data


def loads_verified(data: bytes, expected_sha256: str | None, where: str) -> Any:
    """The model, built only if its bytes hash to `expected_sha256` and hold only trusted types."""
    if not expected_sha256:
        raise ModelIntegrityError(f"{where}: no sha256 was recorded for this model, so it is not loaded")
    digest = sha256(data)
    if digest != expected_sha256:
        raise ModelIntegrityError(f"{where}: sha256 {digest} does not match the recorded {expected_sha256}")
    return loads_trusted(data, where)


def loads_trusted(data: bytes, where: str) -> Any:
    """The model if it holds only trusted types; for callers with no recorded checksum to compare."""
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    from ml_platform.lib.tree_check import check_trees

    try:
        model = skops.io.loads(data, trusted=list(TRUSTED_TYPES))
    except UntrustedTypesFoundException:
        raise UntrustedTypesError(where, _untrusted(data)) from None
    check_trees(model, where)
    return model


def _untrusted(data: bytes) -> list[str]:
    import skops.io

    return sorted(set(skops.io.get_untrusted_types(data=data)) - set(TRUSTED_TYPES))
