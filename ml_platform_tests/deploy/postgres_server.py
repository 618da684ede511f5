"""A throwaway PostgreSQL server for the instance tests: Debian's postgresql, in a temporary directory.

PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user that the Debian
package creates. On a machine without it, the package is installed first (as the Makefile does for
chromium). Start-up takes about two seconds.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.service_process import free_port

USER = "dagster"


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], check=True, capture_output=True)
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    assert found, "PostgreSQL server binaries not found: apt-get install postgresql"
    return Path(found[-1]).parent


class PostgresServer:
    def __init__(self, password: str) -> None:
        self.password = password
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="ml-platform-pg-"))
        self._bin = _bin_dir()
        self._as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *argv: str) -> None:
        subprocess.run([*self._as_owner, *argv], check=True, capture_output=True, text=True)

    def start(self) -> PostgresServer:
        if self._as_owner:
            shutil.chown(self.root, "postgres")
        pwfile = self.root / "pw"
        pwfile.write_text(self.password)
        if self._as_owner:
            shutil.chown(pwfile, "postgres")
        self._run(str(self._bin / "initdb"), "-D", str(self.root / "data"), "-U", USER, "--auth=scram-sha-256",
                  f"--pwfile={pwfile}", "--encoding=UTF8")
        self._run(str(self._bin / "pg_ctl"), "-D", str(self.root / "data"), "-w", "-l", str(self.root / "log"),
                  "-o", f"-h 127.0.0.1 -p {self.port} -k {self.root}", "start")
        return self

    def create_database(self, name: str) -> str:
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user=USER, password=self.password,
                                      dbname="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
        return name

    def stop(self) -> None:
        for _ in range(3):
            try:
                self._run(str(self._bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")
                break
            except subprocess.CalledProcessError:
                time.sleep(1)
        shutil.rmtree(self.root, ignore_errors=True)
