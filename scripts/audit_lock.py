"""Check locked pins against known vulnerabilities, offline, so `make test` can run it on any machine.

pip-audit asks PyPI's JSON API or osv.dev, which not every machine that runs the tests can reach. This
reads a vendored snapshot of the PyPA advisory database (security/advisories.json, written by
scripts/vendor_advisories.py) and evaluates each `name==version` pin against each advisory's `versions`
and ECOSYSTEM `ranges` (OSV semantics: introduced, fixed, last_affected), names compared per PEP 503.
A finding is accepted only by a waiver with a reason (security/waivers.toml); a waiver that matches no
finding is an error too, so the list stays true.

    python scripts/audit_lock.py requirements-dev.lock [more locks]   # exit 1: unwaived finding or stale waiver
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parents[1]
ADVISORIES, WAIVERS = ROOT / "security" / "advisories.json", ROOT / "security" / "waivers.toml"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")
INCLUDE = re.compile(r"^(?:-r|--requirement)[\s=]+(\S+)")


@dataclass(frozen=True)
class Finding:
    id: str
    aliases: tuple[str, ...]
    package: str
    version: str
    fixed_in: str  # the first fixed version above the pin, "" when the advisory names none
    summary: str

    def __str__(self) -> str:
        fix = f"fixed in {self.fixed_in}" if self.fixed_in else "no fixed version"
        aka = f" ({', '.join(self.aliases)})" if self.aliases else ""
        return f"{self.id}{aka}: {self.package} {self.version}, {fix}: {self.summary}"


@dataclass
class Report:
    unwaived: list[Finding] = field(default_factory=list)
    waived: list[tuple[Finding, str]] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # waived ids that match no finding


def normalized(name: str) -> str:
    """PEP 503: `PyJWT`, `pyjwt` and `py_jwt` are one project."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_pins(path: Path) -> dict[str, str]:
    """normalized name -> version for every `name==version` in the lock and the files it includes with -r."""
    return pins_from_lines(path.read_text().splitlines(), path.parent)


def pins_from_lines(lines: list[str], folder: Path = Path(".")) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in lines:
        if include := INCLUDE.match(line.strip()):
            pins.update(locked_pins(folder / include[1]))
        elif pin := PIN.match(line):  # hash lines are indented, comments start with #: neither matches
            pins[normalized(pin[1])] = pin[2]
    return pins


def same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def affected_by_range(version: Version, events: list[dict[str, str]]) -> tuple[bool, str]:
    """(affected, first fixed version above it) for one ECOSYSTEM range, walked in version order."""
    affected, fixes = False, []
    for kind, bound in sorted(((k, Version(v)) for event in events for k, v in event.items()),
                              key=lambda item: item[1]):
        if kind == "introduced" and version >= bound:
            affected = True
        elif kind == "fixed":
            affected = affected and version < bound
            fixes += [bound] if bound > version else []
        elif kind == "last_affected" and version > bound:
            affected = False
    return affected, str(min(fixes)) if affected and fixes else ""


def findings(pins: dict[str, str], advisories: list[dict]) -> list[Finding]:
    found: dict[tuple[str, str], Finding] = {}  # one finding per advisory and package
    for advisory in advisories:
        if advisory.get("withdrawn"):
            continue
        for entry in advisory["affected"]:
            pinned = pins.get(normalized(entry["package"]))
            if pinned is None:
                continue
            hits = [affected_by_range(Version(pinned), events) for events in entry.get("ranges", [])]
            listed = any(same_version(pinned, listed) for listed in entry.get("versions", []))
            if listed or any(hit for hit, _ in hits):
                fixed_in = min((fix for hit, fix in hits if hit and fix), key=Version, default="")
                package = normalized(entry["package"])
                found[advisory["id"], package] = Finding(advisory["id"], tuple(advisory.get("aliases", [])), package,
                                                         pinned, fixed_in, advisory.get("summary", ""))
    return list(found.values())


def read_waivers(path: Path) -> dict[str, str]:
    """advisory id -> reason. A waiver without a reason is refused: the reason is the point."""
    waivers = tomllib.loads(path.read_text()).get("waiver", [])
    missing = [w.get("id", "?") for w in waivers if len(w.get("reason", "").strip()) < 20]
    if missing:
        raise ValueError(f"{path}: waivers need a reason of a sentence or more: {missing}")
    return {w["id"]: w["reason"] for w in waivers}


def audit(locks: list[Path], advisories: Path = ADVISORIES, waivers: Path = WAIVERS) -> Report:
    pins: dict[str, str] = {}
    for lock in locks:
        pins.update(locked_pins(lock))
    accepted, report = read_waivers(waivers), Report()
    for finding in findings(pins, json.loads(advisories.read_text())["advisories"]):
        reason = next((accepted[i] for i in (finding.id, *finding.aliases) if i in accepted), None)
        if reason is None:
            report.unwaived.append(finding)
        else:
            report.waived.append((finding, reason))
    matched = {i for finding, _ in report.waived for i in (finding.id, *finding.aliases)}
    report.stale = sorted(set(accepted) - matched)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("locks", nargs="+", type=Path)
    parser.add_argument("--advisories", type=Path, default=ADVISORIES)
    parser.add_argument("--waivers", type=Path, default=WAIVERS)
    args = parser.parse_args(argv)
    source = json.loads(args.advisories.read_text()).get("source", {})
    report = audit(args.locks, args.advisories, args.waivers)
    print(f"advisories: {source.get('repository', '?')} at {source.get('commit', '?')[:12]} ({source.get('date', '?')})")
    for finding, reason in report.waived:
        print(f"waived  {finding}\n        because: {reason}")
    for finding in report.unwaived:
        print(f"FOUND   {finding}")
    for stale in report.stale:
        print(f"STALE   waiver {stale} matches no finding: remove it")
    print(f"{len(report.unwaived)} unwaived, {len(report.waived)} waived, {len(report.stale)} stale waivers")
    return 1 if report.unwaived or report.stale else 0


if __name__ == "__main__":
    sys.exit(main())
