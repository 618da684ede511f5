"""ml_platform: a Dagster code location that takes a tabular model from raw data to a served endpoint.

Kept import-free so that `serving/` can use `ml_platform.lib` without pulling in Dagster.
"""
