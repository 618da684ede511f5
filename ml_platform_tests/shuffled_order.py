"""Tests in a shuffled order, so one that leans on another's side effects is found: opt-in for now.

`ML_PLATFORM_TEST_SEED=random make test` draws a seed (shown in the header), `ML_PLATFORM_TEST_SEED=<n>`
replays one; unset, the order is pytest's. (A shuffled full run has not passed yet, so CI does not
shuffle.) pytest-xdist's workers get the controller's, since every worker must collect the same
order. Files are shuffled, then the tests in each file: a file's module fixtures stay built once.
"""

from __future__ import annotations

import os
import random
from itertools import groupby

SEED_VARIABLE = "ML_PLATFORM_TEST_SEED"


def session_seed(config) -> int | None:
    """None: not shuffled."""
    if hasattr(config, "workerinput"):  # an xdist worker: the controller's seed
        return config.workerinput["order_seed"]
    if not hasattr(config, "_order_seed"):
        chosen = os.environ.get(SEED_VARIABLE, "")
        config._order_seed = random.SystemRandom().randrange(10**6) if chosen == "random" else (
            int(chosen) if chosen else None)
    return config._order_seed


def shuffle(items: list, seed: int | None) -> None:
    """In place: the order of files, then the order within each file."""
    if seed is None:
        return
    chance = random.Random(seed)
    files = [list(tests) for _, tests in groupby(items, key=lambda item: item.nodeid.split("::")[0])]
    chance.shuffle(files)
    for tests in files:
        chance.shuffle(tests)
    items[:] = [item for tests in files for item in tests]
