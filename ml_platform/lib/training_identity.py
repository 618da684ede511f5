"""What makes two trainings the same: the data they saw and the code and search that trained them.

A candidate trained on the champion's data version by the same code with the same search is the
champion again under a new version number: promoting it would make every replica reload for nothing.
The code version hashes the platform's library (features, pipeline, training) with the search space
and the spec's modelling sections, so any change that can change the model makes a new identity.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ml_platform.lib.spec import DatasetSpec

LIBRARY = Path(__file__).resolve().parent
IDENTITY_TAGS = ("data_version", "training_code_version")


def training_code_version(spec: DatasetSpec, search_space: Any) -> str:
    digest = hashlib.sha256()
    for path in sorted(LIBRARY.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(json.dumps(search_space, sort_keys=True, default=str).encode())
    digest.update(spec.model_dump_json(include={"target", "features", "derived", "training"}).encode())
    return digest.hexdigest()[:12]


def same_training(candidate: str, candidate_tags: dict, champion: str, champion_tags: dict) -> str | None:
    """Why the candidate is no new champion, or None if its data or code differ (or are unknown)."""
    if not all(candidate_tags.get(k) and candidate_tags.get(k) == champion_tags.get(k) for k in IDENTITY_TAGS):
        return None
    return (f"v{candidate} was trained on the same data (version {candidate_tags['data_version']}) by the same "
            f"code and search (version {candidate_tags['training_code_version']}) as champion v{champion}: "
            "not a new champion")
