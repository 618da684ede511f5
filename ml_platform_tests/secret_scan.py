"""A small secret scanner for the repo's own files (no gitleaks or trufflehog in any registry we use).

It looks for what leaks in practice: private keys, cloud and SaaS keys of known shapes, passwords in
URLs, and `password = "..."` / `token: ...` assignments whose value is a literal, not a reference to the
environment or a Kubernetes Secret. A hit is (path, line, kind, value).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

KNOWN_SHAPES = {
    "private key": re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "API secret key": re.compile(r"\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}|\bsk-[A-Za-z0-9_-]{32,}"),
}
# user:password@ in a URL; the password group must then be a literal.
URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^\s/:@'\"]+:(?P<value>[^\s/@'\"]+)@")
# A key that names a credential, then = or :, then a quoted literal or (outside Python) a bare scalar.
# A bare `secret` key is left out on purpose: in Kubernetes and Helm it names a Secret object, not a value.
CREDENTIAL_KEY = (r"(?i)(?P<key>[\w.-]*(?:password|passwd|token|api[_-]?key|secret[_-]?key|access[_-]?key|"
                  r"private[_-]?key|client[_-]?secret))[\"']?\s*(?::|=(?!=))\s*")
QUOTED = re.compile(CREDENTIAL_KEY + r"(?P<quote>[\"'])(?P<value>[^\"'\n]*)(?P=quote)")
BARE = re.compile(CREDENTIAL_KEY + r"(?P<value>[^\s\"'#,{}\[\]]+)")
REFERENCE = re.compile(r"[$<{%]|^(?:true|false|null|none|~)$", re.IGNORECASE)
KEY_FILE_NAMES = re.compile(r"(?:^|/)(?:\.env(?:\..+)?|id_(?:rsa|dsa|ecdsa|ed25519)|.+\.(?:pem|key|p12|pfx|jks))$")
MIN_LITERAL = 8  # shorter literals are chart defaults such as `password: test`, not credentials


@dataclass(frozen=True)
class Hit:
    path: str
    line: int
    kind: str
    value: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}: {self.value[:60]}"


def tracked_files(repo: Path) -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=repo, check=True, capture_output=True).stdout
    return [name for name in listed.decode().split("\0") if name]


def scan_text(path: str, text: str) -> list[Hit]:
    hits = []
    for number, line in enumerate(text.splitlines(), 1):
        hits += [Hit(path, number, kind, m.group(0)) for kind, shape in KNOWN_SHAPES.items()
                 for m in shape.finditer(line)]
        literals = [("password in a URL", m.group("value")) for m in URL_PASSWORD.finditer(line)]
        assignments = QUOTED.finditer(line) if path.endswith(".py") else [*QUOTED.finditer(line), *BARE.finditer(line)]
        literals += [(f"literal {m.group('key')}", m.group("value")) for m in assignments]
        hits += [Hit(path, number, kind, value) for kind, value in dict.fromkeys(literals)
                 if len(value) >= MIN_LITERAL and not REFERENCE.search(value)]
    return hits


def scan_repo(repo: Path) -> list[Hit]:
    """Every hit in the git-tracked files that exist and are text; a key-like file name is a hit itself."""
    hits = []
    for name in tracked_files(repo):
        if KEY_FILE_NAMES.search(name):
            hits.append(Hit(name, 0, "key or env file tracked", name))
        try:
            text = (repo / name).read_text(encoding="utf-8")
        except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError):
            continue  # deleted in the working tree, a submodule, or binary
        hits += scan_text(name, text)
    return hits
