"""Platform-wide run policy, referenced by the assets it applies to."""

import dagster as dg

# For steps that are safe to repeat (they read, or they write idempotently): a brief outage of the
# MLflow store or the filesystem is retried with backoff, and each retry shows in the run's event log.
TRANSIENT_RETRY = dg.RetryPolicy(max_retries=3, delay=1, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
