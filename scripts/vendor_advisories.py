"""Copy the PyPA advisories of the packages our locks pin into security/advisories.json.

Why vendored: the audit (scripts/audit_lock.py) runs in `make test`, offline, so the snapshot travels with
the repo and its source commit and date are written beside it. Only what the check reads is kept (id,
aliases, a one-line summary, each affected package's ECOSYSTEM ranges and version list); withdrawn
advisories are left out. Refresh it when a package is added to a lock, and before a release:

    git clone --depth 1 https://github.com/pypa/advisory-database /tmp/advisory-database
    python scripts/vendor_advisories.py /tmp/advisory-database
"""

from __future__ import annotations

import argparse
import json
import subprocess
from datetime import date
from pathlib import Path

import yaml
from packaging.version import InvalidVersion, Version

from audit_lock import ADVISORIES, ROOT, locked_pins, normalized

LOCKS = [ROOT / "requirements-dev.lock", ROOT / "deploy" / "docker" / "requirements-k8s.txt",
         ROOT / "serving" / "requirements.txt"]


def valid(version: str) -> bool:
    try:
        Version(version)
        return True
    except InvalidVersion:
        return False


def summary(advisory: dict) -> str:
    text = (advisory.get("summary") or advisory.get("details") or "").strip().split("\n")[0]
    return text if len(text) <= 160 else text[:157].rstrip() + "..."


def compact(advisory: dict, packages: set[str]) -> dict | None:
    """The parts the audit reads, for our packages only; None when none of ours is affected."""
    affected = []
    for entry in advisory.get("affected", []):
        package = entry.get("package", {})
        if package.get("ecosystem") != "PyPI" or normalized(package.get("name", "")) not in packages:
            continue
        ranges = [[e for e in r["events"] if all(valid(v) for v in e.values())]
                  for r in entry.get("ranges", []) if r.get("type") == "ECOSYSTEM"]
        affected.append({"package": normalized(package["name"]), "ranges": [r for r in ranges if r],
                         "versions": entry.get("versions", [])})
    if not affected or advisory.get("withdrawn"):
        return None
    return {"id": advisory["id"], "aliases": sorted(advisory.get("aliases", [])), "summary": summary(advisory),
            "modified": str(advisory.get("modified", "")), "affected": affected}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database", type=Path, help="a checkout of github.com/pypa/advisory-database")
    parser.add_argument("--repository", default="https://github.com/pypa/advisory-database")
    args = parser.parse_args()
    git = ["git", "-C", str(args.database), "log", "-1", "--format=%H %cs"]
    commit, day = subprocess.run(git, check=True, capture_output=True, text=True).stdout.split()
    packages = set().union(*(locked_pins(lock) for lock in LOCKS))
    advisories = []
    for path in sorted((args.database / "vulns").glob("**/*.yaml")):  # every file: folder names can differ
        kept = compact(yaml.load(path.read_text(), Loader=yaml.CSafeLoader), packages)
        advisories += [kept] if kept else []
    advisories.sort(key=lambda a: (a["affected"][0]["package"], a["id"]))
    source = {"repository": args.repository, "commit": commit, "date": day, "vendored": date.today().isoformat()}
    lines = [json.dumps(a, sort_keys=True) for a in advisories]
    ADVISORIES.parent.mkdir(exist_ok=True)
    ADVISORIES.write_text('{"source": ' + json.dumps(source) + ',\n "packages": ' + json.dumps(sorted(packages))
                          + ',\n "advisories": [\n' + ",\n".join(lines) + "\n]}\n")
    print(f"{ADVISORIES.relative_to(ROOT)}: {len(advisories)} advisories for {len(packages)} packages at {commit[:12]} ({day})")


if __name__ == "__main__":
    main()
