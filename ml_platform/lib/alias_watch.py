"""Reads a registered model's aliases every few seconds in a process of its own, one JSON line per read.

A service's alias follower used to ask the registry on a thread of the worker: 5-8 ms of MLflow client
CPU every 5 s, during which each socket call of the worker's event loop handed that thread the GIL, so
the loop stalled 10-20 ms and the requests behind it waited (serving/README.md, the pauses benchmark).
Here the reads run in a child process at the lowest CPU priority (nice 19), which the OS schedules in
the worker's idle moments instead of inside its GIL, and the worker only parses a line. The child exits
when its stdin closes, so it never outlives the worker, however the worker ends (a SIGKILL closes the
pipe too).

    python -m ml_platform.lib.alias_watch --interval 5 <tracking uri> <model> <alias>...

Each line: {"aliases": {alias: [version or null, tags]}} or {"error": "..."}.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


def read_aliases(registry, aliases: list[str]) -> dict[str, list]:
    return {alias: list(registry.alias_tags(alias)) for alias in aliases}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("tracking_uri")
    parser.add_argument("model")
    parser.add_argument("aliases", nargs="+")
    args = parser.parse_args(argv)
    os.nice(19)  # the worker first: the reads run in its idle moments, even on the one core they share
    from ml_platform.lib.registry import Registry

    registry = Registry(args.tracking_uri, args.model)
    while True:
        try:
            line = {"aliases": read_aliases(registry, args.aliases)}
        except Exception as exc:  # the worker logs it and keeps serving what it has
            line = {"error": f"{type(exc).__name__}: {exc}"}
        try:
            print(json.dumps(line), flush=True)
        except BrokenPipeError:
            return 0
        readable, _, _ = select.select([sys.stdin], [], [], args.interval)
        if readable and not sys.stdin.buffer.read1(1):
            return 0  # the worker closed the pipe, or is gone


class AliasWatch:
    """The child process, seen from the worker: an iterator of alias reads, ended by `close()`."""

    def __init__(self, tracking_uri: str, model: str, aliases: list[str], interval: float):
        root = str(Path(__file__).resolve().parents[2])  # where `ml_platform` is, in a checkout or a Bento
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ml_platform.lib.alias_watch", "--interval", str(interval), tracking_uri, model,
             *aliases], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)

    def __iter__(self) -> Iterator[dict]:
        for line in self.process.stdout:
            yield json.loads(line)

    def close(self) -> None:
        if self.process.stdin and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
