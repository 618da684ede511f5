"""A `bentoml serve` process on 127.0.0.1, as the benchmarks, the soak and the serving tests start it.

Each runs in its own process group, so stopping it reaches every worker; `stop` is BentoML's clean
shutdown (SIGINT, as Ctrl-C gives it), with SIGKILL only if that hangs.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start(target: str, env: dict[str, str], port: int, output: Path | None = None,
          prefix: tuple[str, ...] = ()) -> subprocess.Popen:
    """`prefix` runs the server under another command (the tests drop capabilities with `setpriv`)."""
    sink = output.open("w") if output else subprocess.DEVNULL
    try:
        return subprocess.Popen([*prefix, sys.executable, "-m", "bentoml", "serve", target, "--host", HOST, "--port", str(port)],
                                cwd=PROJECT_DIR, env=env, start_new_session=True, stdout=sink, stderr=subprocess.STDOUT)
    finally:
        if output:
            sink.close()


def wait_until_up(process: subprocess.Popen, port: int, probe: str = "/readyz", timeout: float = 120,
                  output: Path | None = None) -> None:
    """Until `probe` answers 200; a process that exits or never gets there is stopped and reported."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://{HOST}:{port}{probe}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop(process)
    tail = output.read_text()[-3000:] if output else ""
    raise TimeoutError(f"{probe} never answered 200 (exit code {process.returncode}):\n{tail}")


def serve(target: str, env: dict[str, str], output: Path | None = None,
          timeout: float = 120) -> tuple[subprocess.Popen, int]:
    """`bentoml serve target` on a free port; returns once /readyz is 200."""
    port = free_port()
    process = start(target, env, port, output)
    wait_until_up(process, port, timeout=timeout, output=output)
    return process, port


def stop(process: subprocess.Popen, timeout: float = 60, signal_number: int = signal.SIGINT) -> int:
    """Signal the process group (SIGINT: what a terminal's Ctrl-C sends); SIGKILL if it outlives `timeout`."""
    if process.poll() is None:
        os.killpg(process.pid, signal_number)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            kill_tree(process)
    return process.returncode


def kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL the server and every process under it. BentoML starts each worker in its own session, so
    a signal to the arbiter's process group alone leaves the workers serving, orphaned."""
    import psutil

    try:
        root = psutil.Process(process.pid)
        family = [root, *root.children(recursive=True)]  # listed before the kill: orphans lose their parent
    except psutil.NoSuchProcess:
        family = []
    for member in family:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    process.wait(10)
    psutil.wait_procs(family[1:], timeout=10)


def tree_rss_mb(pid: int) -> tuple[float, float]:
    """(sum, largest) resident memory of a process and all its descendants, in MiB."""
    import psutil

    root = psutil.Process(pid)
    sizes = []
    for process in [root, *root.children(recursive=True)]:
        try:
            sizes.append(process.memory_info().rss / 2**20)
        except psutil.NoSuchProcess:
            pass
    return sum(sizes), max(sizes)
