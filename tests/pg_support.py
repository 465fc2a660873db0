"""A throwaway PostgreSQL cluster for the team gateway's tests: one per test session.

`initdb` + `pg_ctl` (Debian's `postgresql` package) in a private temp dir, listening on a
free loopback port and a socket in that dir; stopped (fast mode) and removed at the end.
PostgreSQL refuses to run as root, so under root (CI containers) it runs as `postgres`.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

START_TIMEOUT = 60


def postgres_bin() -> Path | None:
    """The directory holding initdb and pg_ctl, or None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """Start a cluster; yields a postgresql:// URL for its `codexglm` database."""
    bindir = postgres_bin()
    assert bindir is not None, "PostgreSQL is not installed (apt-get install -y postgresql)"
    root = Path(tempfile.mkdtemp(prefix="codexglm-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_user = [shutil.which("runuser", path="/usr/sbin:/sbin:/usr/bin:/bin") or "runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()

    def run(*argv: str, timeout: float = START_TIMEOUT) -> None:
        subprocess.run([*as_user, *argv], check=True, capture_output=True, timeout=timeout)

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "codexglm", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-o", options, "-w", "start")
        try:
            run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "codexglm", "codexglm")
            yield f"postgresql://codexglm@127.0.0.1:{port}/codexglm"
        finally:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


