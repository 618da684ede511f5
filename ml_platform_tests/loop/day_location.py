"""The code location the compressed-day test's daemon loads: the platform's own definitions, with the
loop's clock in minutes (a served batch a minute, labels awaited half a minute), set from the test's env."""

import os

import dagster as dg

from ml_platform.definitions import ENV, build_defs, platform_resources
from ml_platform.loop_resources import LoopStorage

LABEL_WAIT_MINUTES, SERVED_BATCH_MINUTES = 0.5, 1


@dg.definitions
def defs() -> dg.Definitions:
    resources = platform_resources(**{arg: os.environ.get(name, "") for arg, name in ENV.items()})
    resources["loop_storage"] = LoopStorage(storage_root=os.environ[ENV["data_dir"]],
                                            label_wait_minutes=LABEL_WAIT_MINUTES,
                                            served_batch_minutes=SERVED_BATCH_MINUTES)
    return build_defs(resources)
