"""One dynamic partition per landed batch file, keyed by the file's name."""

import dagster as dg

batches = dg.DynamicPartitionsDefinition(name="batches")
