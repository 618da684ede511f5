"""The batch's quality gate, evaluated in the same step that splits the batch.

It is yielded by `validate_batch` rather than defined as a separate `@asset_check`: a separate check
would reload both outputs, and for a partitioned asset it would load every batch instead of this one.
"""

import dagster as dg

REJECTED_SHARE = "rejected_share_within_limit"


def rejected_share_check(validated_data: dg.AssetKey) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        REJECTED_SHARE,
        asset=validated_data,
        blocking=True,
        description="Stops the batch (nothing downstream runs on it) when too many of its rows were rejected.",
    )


def rejected_share_within_limit(validated_data: dg.AssetKey, rows_in: int, rejected: int,
                                limit: float) -> dg.AssetCheckResult:
    share = rejected / rows_in if rows_in else 1.0
    return dg.AssetCheckResult(
        check_name=REJECTED_SHARE,
        asset_key=validated_data,
        passed=rows_in > 0 and share <= limit,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{share:.1%} of {rows_in} rows rejected; limit {limit:.1%}",
        metadata={"rejected_share": share, "limit": limit, "rows_in": rows_in},
    )
