"""`make serve`: the Bento built for the current champion of ML_PLATFORM_DATASET, not merely the newest.

    python -m ml_platform.lib.champion_bento    # prints the Bento's tag

The `bento` asset labels every Bento with the model tag it was built for (`model_tag`); that label is
how a Bento is found for a model here, and how the served Bento knows its own model (serving/settings.py).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from ml_platform.lib import model_store

MODEL_TAG_LABEL = "model_tag"


class NoChampionBento(LookupError):
    """No champion yet, or no Bento built for it."""


def bento_for(home: str, model_tag: str, prefix: bool = False) -> Any | None:
    """The newest Bento in `home` built for `model_tag` (any tag starting with it, with `prefix`), or None."""
    from bentoml._internal.bento import BentoStore

    os.makedirs(os.path.join(home, "bentos"), exist_ok=True)
    store = BentoStore(os.path.join(home, "bentos"))
    labels = [(b, b.info.labels.get(MODEL_TAG_LABEL) or "") for b in store.list()]
    matches = [b for b, label in labels if label == model_tag or (prefix and label.startswith(model_tag))]
    return max(matches, key=lambda b: b.info.creation_time) if matches else None


def champion_bento(registry: Any, home: str) -> Any:
    """The Bento of the version the registry's `champion` alias names."""
    version = registry.champion_version()
    if version is None:
        raise NoChampionBento(f"{registry.model_name} has no champion yet: run `make run` first")
    model_tag = model_store.tag_for(registry.model_name, version)
    bento = bento_for(home, model_tag) or bento_for(home, f"{registry.model_name}:", prefix=True)
    if bento is None:
        raise NoChampionBento(f"no Bento in {home} is built for {registry.model_name}: run `make run`")
    if bento.info.labels.get(MODEL_TAG_LABEL) != model_tag:  # promoted live: no Bento was built for it
        print(f"no Bento is built for the champion {model_tag}; serving {bento.tag}, which follows the "
              "champion alias and loads it from the store within seconds", file=sys.stderr)
    return bento


def main() -> int:
    from ml_platform.lib.registry import from_environment

    if (found := from_environment("make serve")) is None:
        return 2
    try:
        bento = champion_bento(*found)
    except NoChampionBento as exc:
        print(exc, file=sys.stderr)
        return 1
    print(bento.tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
