"""The README's team section, followed verbatim: PostgreSQL started with its own commands,
a member key created, a gateway served, a member's codexglm pointed at it, and the real
Codex CLI answering through it.  `codexglm serve --help` shows the same commands."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import trio

from codexglm.cli.table import TEAM_SETUP
from codexglm.ledger.postgres import PostgresStore
from tests.e2e_harness import make_sandbox
from tests.mockglm import open_mock_glm
from tests.pg_support import free_port, postgres_bin

pytestmark = pytest.mark.e2e
README = Path(__file__).resolve().parent.parent / "README.md"


def readme_team_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"<!-- team-setup -->\n```sh\n(.*?)```\n<!-- /team-setup -->", text, re.S)
    assert block is not None, "README.md lost its team-setup block"
    return block.group(1).strip().splitlines()


def test_serve_help_shows_the_readme_commands() -> None:
    shown = [line.strip() for line in TEAM_SETUP.splitlines() if line.startswith("  ")]
    assert shown == readme_team_commands() and len(shown) == 5
    help_text = subprocess.run([sys.executable, "-m", "codexglm", "serve", "--help"], capture_output=True, text=True).stdout
    assert all(command in help_text for command in shown) and "personal Coding Plan key may not be shared" in help_text


def _wrappers(bindir: Path) -> None:
    """initdb, pg_ctl and createdb as a user runs them (PostgreSQL refuses root, so under root
    they run as `postgres`), and `codexglm` as the installed command."""
    real = postgres_bin()
    assert real is not None
    runuser = shutil.which("runuser", path="/usr/sbin:/sbin:/usr/bin:/bin")
    as_user = f"{runuser} -u postgres -- " if os.geteuid() == 0 else ""
    for tool in ("initdb", "pg_ctl", "createdb"):
        (bindir / tool).write_text(f'#!/bin/sh\nexec {as_user}{real / tool} "$@"\n')
    (bindir / "codexglm").write_text(f'#!/bin/sh\nexec {sys.executable} -m codexglm "$@"\n')
    for path in bindir.iterdir():
        path.chmod(0o755)


@pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL is not installed (.ci/run installs it)")
async def test_the_readme_team_section_works_verbatim(tmp_path: Path) -> None:
    sandbox = make_sandbox(tmp_path)
    # A home the postgres user may write to (pytest's tmp dirs are private to root).
    home = Path(tempfile.mkdtemp(prefix="codexglm-team-home-"))
    home.chmod(0o777)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    _wrappers(bindir)
    port = free_port()
    # The only changes: loopback instead of a public address and a free port (tests stay on
    # loopback), and background jobs stopped when the script ends.
    commands = [
        line.replace("0.0.0.0", "127.0.0.1").replace("gateway.example", "127.0.0.1").replace("8787", str(port))
        for line in readme_team_commands()
    ]
    script = "set -e\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n" + "\n".join(commands) + "\n"
    pg_port = free_port()
    try:
        async with open_mock_glm() as mock:
            env = {
                **sandbox.env(mock),
                "HOME": str(home),
                "PATH": f"{bindir}:/usr/bin:/bin",
                "PGPORT": str(pg_port),
            }
            with trio.fail_after(180):
                done = await trio.run_process(
                    ["bash", "-c", script], env=env, cwd=str(sandbox.workdir), capture_stdout=True, capture_stderr=True,
                    check=False, stdin=subprocess.DEVNULL,
                )
            output = done.stdout.decode(errors="replace")
            assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
            assert "Hello! This is the mock GLM server." in output
            # The member's exit line, from the gateway's ledger.
            errors = done.stderr.decode(errors="replace")
            assert re.search(r"codexglm: \d+ requests? · .* in \(.* cached\), .* out", errors), errors[-2000:]
            assert "resume: codexglm resume " in errors
            assert len(mock.chat_requests) >= 1
        url = f"postgresql://codexglm@localhost:{pg_port}/codexglm"
        store = PostgresStore(url)
        try:
            with store.reading() as db:
                members = {row[0] for row in db.execute("SELECT member FROM requests").fetchall()}
        finally:
            store.close()
        assert members == {"alice"}
        assert (Path(sandbox.root / "config" / "member_key").stat().st_mode & 0o777) == 0o600
    finally:
        subprocess.run([str(bindir / "pg_ctl"), "-D", str(home / "codexglm-db"), "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(home, ignore_errors=True)
