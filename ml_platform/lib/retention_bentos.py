"""The BentoML home after the registry is pruned: models and Bentos no kept version needs.

A stored model (`<dataset>:v<N>`, labelled with its MLflow version) stays while its version stays in
the registry: rollback verifies the target in this store. A Bento stays if it is among the newest
`keep` of the dataset or was built for a protected version (champion, challenger, a rollback target).
Only this dataset's models and Bentos are looked at; another dataset's share of the home is not ours.
"""

from __future__ import annotations

import os
from pathlib import Path

from ml_platform.lib import model_store
from ml_platform.lib.champion_bento import MODEL_TAG_LABEL
from ml_platform.lib.retention import Swept


def _bytes(folder: str) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def prune_models(home: str, model_name: str, versions_left: set[str], dry_run: bool = False) -> Swept:
    """Delete stored models whose MLflow version is no longer in the registry."""
    import bentoml

    swept = Swept("bentoml_models")
    for stored in model_store.list_versions(home, model_name):
        created = stored.info.creation_time.timestamp()
        if stored.info.labels.get("mlflow_version") in versions_left:
            swept.keep(created)
            continue
        size = _bytes(stored.path)
        if not dry_run:
            bentoml.models.delete(stored.tag, _model_store=model_store._store(home))
        swept.removed += 1
        swept.removed_bytes += size
    return swept


def prune_bentos(home: str, model_name: str, protected: dict[str, str], keep: int, dry_run: bool = False) -> Swept:
    """Delete this dataset's Bentos beyond the newest `keep`, unless built for a version in `protected`."""
    import bentoml
    from bentoml._internal.bento import BentoStore

    folder = os.path.join(home, "bentos")
    os.makedirs(folder, exist_ok=True)
    store, swept = BentoStore(folder), Swept("bentos")
    ours = [b for b in store.list() if (b.info.labels.get(MODEL_TAG_LABEL) or "").startswith(f"{model_name}:v")]
    ours.sort(key=lambda b: b.info.creation_time, reverse=True)
    for position, bento in enumerate(ours):
        created = bento.info.creation_time.timestamp()
        version = bento.info.labels[MODEL_TAG_LABEL].removeprefix(f"{model_name}:v")
        if position < keep:
            swept.keep(created)
        elif version in protected:
            swept.keep(created)
            swept.refused[f"built for {protected[version]}"] += 1
        else:
            size = _bytes(bento.path)
            if not dry_run:
                bentoml.bentos.delete(bento.tag, _bento_store=store)
            swept.removed += 1
            swept.removed_bytes += size
    return swept
