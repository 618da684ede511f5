"""Re-hash the locks at the versions they already pin, so a fresh install gets the same bytes or nothing.

Each pin gets the sha256 of every file PyPI holds for that version (each platform's wheels and the
sdist), read from PyPI's index by `uv pip compile --generate-hashes`. Nothing is upgraded: every input
is an exact pin, and a lock whose pins do not cover their own dependencies is refused (pin what is named,
rerun). PyPI is the only index (`--no-config`): this machine's extra indexes hold rebuilt wheels whose
bytes may differ, and `pip install --require-hashes` takes a file only if its hash is listed.

    python scripts/relock.py           # needs `uv` on PATH, or UV=/path/to/uv (any recent uv)

To change a version, edit its pin in the lock, then rerun. Writes requirements.lock,
requirements-dev.lock (`-r requirements.lock` + test tools and pip), deploy/docker/requirements-k8s.txt
(what the user-code image adds) and serving/requirements.txt (the Bento's closure at the same versions).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME, DEV = ROOT / "requirements.lock", ROOT / "requirements-dev.lock"
K8S, SERVING = ROOT / "deploy" / "docker" / "requirements-k8s.txt", ROOT / "serving" / "requirements.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")
REGENERATE = "Regenerate at the pinned versions: python scripts/relock.py (never edit a hash by hand)."
HEADERS = {
    RUNTIME: "# What the platform runs, every version pinned with the sha256 of each file PyPI has for it:\n"
             "# make, CI and the user-code image install it with `pip install --require-hashes`.\n",
    DEV: "# Test tools and the pip that installs them, pinned and hashed: `make test` installs these on top of\n"
         "# requirements.lock with `--require-hashes`; images never do.\n",
    K8S: "# What the Kubernetes deployment needs beyond local runs: PostgreSQL instance storage. requirements.lock\n"
         "# pins them too, with the same hashes; the user-code image installs both with `--require-hashes`.\n",
    SERVING: "# The Bento's full lock: the serving pins and everything they need, at requirements.lock's versions\n"
             "# and hashes. BentoML copies it into the Bento (src/serving/requirements.txt) and\n"
             "# deploy/docker/bento.Dockerfile installs it with `pip install --require-hashes`.\n",
}


def normalized(name: str) -> str:
    """PEP 503: `PyJWT`, `pyjwt` and `py_jwt` are one project."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """normalized name -> version, for every `name==version` line (hash lines, options and comments skipped)."""
    found = (PIN.match(line) for line in path.read_text().splitlines())
    return {normalized(m[1]): m[2] for m in found if m}


def compile_hashed(requirements: dict[str, str], constraints: dict[str, str] | None = None) -> dict[str, str]:
    """normalized name -> its hashed block, for the requirements and everything they need on Python 3.11."""
    uv = os.environ.get("UV") or shutil.which("uv") or sys.exit("relock.py needs uv: put it on PATH or set UV")
    with tempfile.TemporaryDirectory() as tmp:
        wanted, fixed = Path(tmp) / "requirements.in", Path(tmp) / "constraints.txt"
        wanted.write_text("".join(f"{name}=={version}\n" for name, version in requirements.items()))
        fixed.write_text("".join(f"{name}=={version}\n" for name, version in (constraints or {}).items()))
        out = subprocess.run([uv, "pip", "compile", str(wanted), "-c", str(fixed), "--generate-hashes",
                              "--python-version", "3.11", "--index-url", "https://pypi.org/simple", "--no-config",
                              "--no-header", "--no-annotate", "--quiet"], check=True, capture_output=True, text=True)
    blocks = re.split(r"\n(?=\S)", out.stdout.strip())
    return {normalized(block.split("==", 1)[0]): block for block in blocks}


def must_close(what: str, requirements: dict[str, str], resolved: dict[str, str]) -> None:
    added = sorted(set(resolved) - set(requirements))
    if added:
        sys.exit(f"{what} does not pin everything it needs; add pins for: {', '.join(added)}")


def write(path: Path, blocks: list[str], first: str = "") -> None:
    path.write_text(HEADERS[path] + f"# {REGENERATE}\n" + first + "\n".join(blocks) + "\n")
    print(f"{path.relative_to(ROOT)}: {len(blocks)} pins")


def main() -> None:
    runtime, dev, k8s, serving = pins(RUNTIME), pins(DEV), pins(K8S), pins(SERVING)
    everything = {**runtime, **dev, **k8s}
    hashed = compile_hashed(everything)
    must_close("requirements.lock + requirements-dev.lock + requirements-k8s.txt", everything, hashed)
    must_close("requirements.lock", runtime, compile_hashed(runtime))
    bento = compile_hashed(serving, constraints=runtime)
    must_close("serving/requirements.txt within requirements.lock", runtime, bento)
    write(RUNTIME, [hashed[name] for name in sorted(runtime)])
    write(DEV, [hashed[name] for name in sorted(dev)], first="-r requirements.lock\n")
    write(K8S, [hashed[name] for name in sorted(k8s)])
    write(SERVING, [hashed[name] for name in sorted(bento)])


if __name__ == "__main__":
    main()
