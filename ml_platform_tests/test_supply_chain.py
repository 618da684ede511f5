"""Supply chain: what we install is what we locked, and nothing we lock has a known vulnerability that is
not written down with a reason.

Every `pip install` we run takes hashed pins only (`--require-hashes`; the editable install of this
project is the one exception), each lock pins everything its packages need, and the offline audit
(scripts/audit_lock.py over the PyPA advisories vendored in security/advisories.json) finds nothing
unwaived. Image-specific checks are in deploy/test_dockerfiles.py.
"""

import json
import re
import subprocess
import sys
from importlib import metadata

import pytest
from packaging.requirements import Requirement

from ml_platform.definitions import PROJECT_DIR

sys.path.insert(0, str(PROJECT_DIR / "scripts"))
import audit_lock  # noqa: E402  (scripts/audit_lock.py, the check `make test` runs)

LOCKS = [PROJECT_DIR / p for p in ("requirements-dev.lock", "deploy/docker/requirements-k8s.txt", "serving/requirements.txt")]
INSTALLERS = ["Makefile", ".ci/*", "scripts/*", "deploy/docker/*Dockerfile"]
PIP_INSTALL = re.compile(r"\bpip3?\s+install\b[^\n;&|]*")


def test_no_locked_package_has_a_known_vulnerability_that_is_not_waived():
    report = audit_lock.audit(LOCKS)
    assert not report.unwaived, "upgrade, or waive with a reason in security/waivers.toml:\n" + "\n".join(
        map(str, report.unwaived))
    assert not report.stale, f"waivers in security/waivers.toml that match no finding any more: {report.stale}"


def test_the_advisory_snapshot_covers_every_locked_package_and_names_its_source():
    snapshot = json.loads(audit_lock.ADVISORIES.read_text())
    locked = set().union(*(audit_lock.locked_pins(lock) for lock in LOCKS))
    missing = locked - set(snapshot["packages"])
    assert not missing, f"not in the vendored snapshot, rerun scripts/vendor_advisories.py: {sorted(missing)}"
    assert re.fullmatch(r"[0-9a-f]{40}", snapshot["source"]["commit"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", snapshot["source"]["date"])


def test_every_pip_install_we_run_requires_hashes():
    files = [path for pattern in INSTALLERS for path in PROJECT_DIR.glob(pattern) if path.is_file()]
    commands = [(path.relative_to(PROJECT_DIR), command) for path in files
                for command in PIP_INSTALL.findall(path.read_text(errors="replace").replace("\\\n", " "))]
    assert any(name.name == "Makefile" for name, _ in commands), "the Makefile's install step was not found"
    unhashed = [(name, command) for name, command in commands if "--require-hashes" not in command
                and not re.search(r"--no-deps (-e|--editable) \.(\s|$)", command)]
    assert not unhashed, unhashed


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dev.lock", "serving/requirements.txt"])
def test_each_lock_pins_everything_its_packages_need(lock):
    """Read from the installed metadata (make installs these very versions), extras followed. Installs run
    with --no-deps, so a missing pin would surface only as `pip check` failing an image build."""
    pins = audit_lock.locked_pins(PROJECT_DIR / lock)
    wrong = {name: (version, metadata.version(name)) for name, version in pins.items()
             if metadata.version(name) != version}
    assert not wrong, f"this environment is not the lock's (lock, installed): {wrong}"
    seen, todo, unpinned = set(), [(name, "") for name in pins], []
    while todo:
        name, extra = todo.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        for line in metadata.requires(name) or []:
            needed = Requirement(line)
            if needed.marker is None or needed.marker.evaluate({"extra": extra}):
                have = pins.get(audit_lock.normalized(needed.name))
                if have is None or not needed.specifier.contains(have, prereleases=True):
                    unpinned.append(f"{name}[{extra}] needs {needed}, {lock} pins {have}")
                todo += [(audit_lock.normalized(needed.name), e) for e in ("", *needed.extras)]
    assert not unpinned, unpinned


def test_the_bento_has_the_event_loop_and_http_parser_the_benchmarks_measured():
    """uvicorn takes uvloop and httptools when they are installed and falls back without a word to asyncio's
    loop and the pure-Python h11 when not: a Bento without them served 2,012 req/s at 32 connections where
    the same worker with them served 3,224 (one run each). The benchmarks run the dev environment, which
    has both, so the image must too, at the same versions."""
    bento, runtime = (audit_lock.locked_pins(PROJECT_DIR / lock) for lock in ("serving/requirements.txt",
                                                                            "requirements.lock"))
    assert {name: bento.get(name) for name in ("uvloop", "httptools")} == \
        {name: runtime[name] for name in ("uvloop", "httptools")}


SYNTHETIC = [
    {"id": "TEST-1", "aliases": ["CVE-0000-0001"], "summary": "two ranges", "affected": [
        {"package": "foo-bar", "ranges": [[{"introduced": "0"}, {"fixed": "1.5"}, {"introduced": "2.0"}, {"fixed": "2.3"}]]}]},
    {"id": "TEST-2", "summary": "up to and including 2.0", "affected": [
        {"package": "baz", "ranges": [[{"introduced": "1.0"}, {"last_affected": "2.0"}]]}]},
    {"id": "TEST-3", "summary": "a version list only", "affected": [{"package": "qux", "versions": ["3.0"]}]},
    {"id": "TEST-4", "withdrawn": "2026-01-01", "summary": "withdrawn", "affected": [{"package": "qux", "versions": ["3.0"]}]},
]


@pytest.mark.parametrize("pin, expected", [
    ("Foo_Bar==1.4.0", [("TEST-1", "1.5")]), ("foo.bar==1.5", []), ("foo-bar==2.1", [("TEST-1", "2.3")]),
    ("baz==2.0", [("TEST-2", "")]), ("baz==2.0.1", []), ("baz==0.9", []), ("qux==3.0", [("TEST-3", "")]), ("qux==3.1", []),
])
def test_the_audit_finds_an_affected_pin_and_passes_a_fixed_one(pin, expected):
    found = audit_lock.findings(audit_lock.pins_from_lines([pin]), SYNTHETIC)
    assert [(f.id, f.fixed_in) for f in found] == expected


def test_the_command_reads_hashed_locks_and_their_includes_and_honours_waivers(tmp_path):
    (tmp_path / "base.lock").write_text("Foo_Bar==1.4.0 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    (tmp_path / "dev.lock").write_text("# a comment\n-r base.lock\nqux==3.1 \\\n    --hash=sha256:" + "1" * 64 + "\n")
    advisories = tmp_path / "advisories.json"
    advisories.write_text(json.dumps({"source": {}, "advisories": SYNTHETIC}))
    waivers = tmp_path / "waivers.toml"

    def run(waived: str):
        waivers.write_text(waived)
        command = [sys.executable, str(PROJECT_DIR / "scripts" / "audit_lock.py"), str(tmp_path / "dev.lock"),
                   "--advisories", str(advisories), "--waivers", str(waivers)]
        return subprocess.run(command, capture_output=True, text=True)

    found = run("")
    assert found.returncode == 1 and "TEST-1 (CVE-0000-0001): foo-bar 1.4.0, fixed in 1.5" in found.stdout, found.stdout
    reason = 'reason = "the affected feature is never imported by the platform"\n'
    assert run(f'[[waiver]]\nid = "CVE-0000-0001"\npackage = "foo-bar"\n{reason}').returncode == 0
    stale = run(f'[[waiver]]\nid = "CVE-0000-0001"\n{reason}[[waiver]]\nid = "TEST-3"\n{reason}')
    assert stale.returncode == 1 and "STALE   waiver TEST-3" in stale.stdout, stale.stdout
    refused = run('[[waiver]]\nid = "TEST-1"\nreason = "ok"\n')
    assert refused.returncode != 0 and "need a reason" in refused.stderr
