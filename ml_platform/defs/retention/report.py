"""The retention run's metadata: one table and flat figures per kind, whatever the history's length."""

from __future__ import annotations

from typing import Any

import dagster as dg

from ml_platform.lib.retention import RetentionPolicy, Swept


def report_metadata(swept: list[Swept], policy: RetentionPolicy, dry_run: bool) -> dict[str, Any]:
    """Per kind: removed, bytes, kept, oldest kept, refused by reason (reasons are a fixed few)."""
    rows = ["| kind | removed | bytes | kept | oldest kept | refused (why) |", "|---|---|---|---|---|---|"]
    flat: dict[str, Any] = {}
    for outcome in swept:
        figures = outcome.metadata()
        refused = "; ".join(f"{count}: {reason}" for reason, count in figures["refused"].items()) or "-"
        rows.append(f"| {outcome.kind} | {figures['removed']} | {figures['removed_bytes']:,} | {figures['kept']} "
                    f"| {figures['oldest_kept'] or '-'} | {refused} |")
        flat.update({f"{outcome.kind}_removed": figures["removed"],
                     f"{outcome.kind}_removed_bytes": figures["removed_bytes"],
                     f"{outcome.kind}_kept": figures["kept"], f"{outcome.kind}_oldest_kept": figures["oldest_kept"],
                     f"{outcome.kind}_refused": sum(outcome.refused.values())})
    return {
        "dry_run": dry_run,
        "removed": sum(s.removed for s in swept),
        "removed_bytes": sum(s.removed_bytes for s in swept),
        "summary": dg.MetadataValue.md("\n".join(rows)),
        "refused": dg.MetadataValue.json({s.kind: dict(s.refused) for s in swept if s.refused}),
        "policy": dg.MetadataValue.json(policy.model_dump()),
        **flat,
    }
