"""`codexglm serve --workers N`: the supervisor's policy, the state the workers share, and
real multi-process servers on loopback in front of the mock GLM server."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from codexglm.cli import main
from codexglm.providers.base import QuotaWindow
from codexglm.server.hosting import bind
from codexglm.server.keys import KeyPool
from codexglm.server.reqlog import Redactor, RequestLog, ServerLog
from codexglm.server.shared import KEY_SLOTS, SharedState
from codexglm.server.workers import (
    RestartPolicy,
    ServeJob,
    WorkersFailed,
    restart_delay,
    run_workers,
    worker_shares,
    workers_limit,
)
from codexglm.settings import Settings
from tests.mockglm import DEFAULT_KEY, QUOTA_PATH, MockGLM, open_mock_glm
from tests.server_support import codex_body
from tests.team_support import ADMIN, codexglm, gateway_env

TOKEN = "workers-test-token-5678"

# --------------------------------------------------------------------------- the policy


def test_a_worker_is_replaced_after_a_growing_bounded_delay() -> None:
    policy = RestartPolicy(max_restarts=5, window=60.0, first_delay=0.5, max_delay=3.0)
    exits: list[float] = []
    delays = []
    for now in (100.0, 101.0, 102.0, 103.0, 104.0):
        exits.append(now)
        delays.append(restart_delay(policy, exits, now))
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_one_exit_too_many_within_the_window_is_a_crash_loop() -> None:
    policy = RestartPolicy(max_restarts=2, window=10.0)
    assert restart_delay(policy, [1.0, 2.0], 2.0) is not None
    assert restart_delay(policy, [1.0, 2.0, 3.0], 3.0) is None


def test_exits_older_than_the_window_are_forgotten() -> None:
    policy = RestartPolicy(max_restarts=2, window=10.0, first_delay=0.5)
    # Three exits, but two of them long ago: a worker that ran for a while starts afresh.
    assert restart_delay(policy, [1.0, 2.0, 50.0], 50.0) == 0.5


@given(st.integers(min_value=1, max_value=10_000), st.integers(min_value=1, max_value=64))
def test_concurrency_shares_add_up_to_the_server_wide_limit(total: int, workers: int) -> None:
    shares = worker_shares(total, workers)
    assert len(shares) == workers and sum(shares) == total
    assert max(shares) - min(shares) <= 1


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", str(workers_limit() + 1)])
def test_workers_must_be_a_whole_number_in_range(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--workers", value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--workers must be a whole number from 1 to {workers_limit()}" in err


def test_workers_cannot_outnumber_the_concurrency_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    _isolate(tmp_path, monkeypatch)
    config = tmp_path / "config"
    config.mkdir()
    (config / "config.toml").write_text("max_concurrency = 1\n")
    assert main(["serve", "--port", "0", "--workers", "2"]) == 2
    assert "needs max_concurrency of at least 2" in capsys.readouterr().err


def _isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CONFIG", "STATE", "CACHE"):
        monkeypatch.setenv(f"CODEXGLM_{name}_DIR", str(tmp_path / name.lower()))
    monkeypatch.setenv("ZAI_API_KEY", DEFAULT_KEY)


def test_workers_that_cannot_start_end_the_server_with_one_line(tmp_path: Path) -> None:
    # A gateway database URL no worker can open: each fails before it is ready.
    settings = Settings(api_keys=(DEFAULT_KEY,), log_dir=str(tmp_path / "logs"))
    job = ServeJob(settings, TOKEN, "127.0.0.1", team=True, team_db="mysql://nowhere/team")
    announced = []
    with bind("127.0.0.1", 0) as listener, pytest.raises(WorkersFailed) as failed:
        run_workers(job, listener, 2, lambda host, port: announced.append(port))
    assert re.fullmatch(r"worker \d could not start \(exit status 1\)", str(failed.value))
    assert announced == []


# --------------------------------------------------------------------------- shared state


@pytest.fixture
def views() -> Iterator[tuple[SharedState, SharedState]]:
    """Two mappings of one state file, as two workers have it."""
    first = SharedState.create()
    second = SharedState(os.dup(first.fd))
    yield first, second
    first.close()
    second.close()


async def test_a_key_cooling_down_in_one_worker_is_skipped_by_the_other(views: tuple[SharedState, SharedState]) -> None:
    first, second = views
    pool_a, pool_b = KeyPool(["k1", "k2"]), KeyPool(["k1", "k2"])
    pool_a.share(first)
    pool_b.share(second)
    pool_a.cool_down("k1", 30)
    assert pool_b.pick() == "k2"
    assert pool_b.cooling() == 1
    assert pool_b.cooling_until("k1") == pytest.approx(trio.current_time() + 30, abs=0.5)
    # The later end wins, whichever worker set it.
    pool_b.cool_down("k1", 5)
    assert pool_a.cooling_until("k1") == pytest.approx(trio.current_time() + 30, abs=0.5)


def test_more_keys_than_slots_reuse_the_slot_whose_cool_down_ended_first(views: tuple[SharedState, SharedState]) -> None:
    first, second = views
    for n in range(KEY_SLOTS):
        first.cool_down(f"key-{n}", 1000.0 + n)
    first.cool_down("one-more", 5000.0)
    assert second.cooling_until("one-more") == 5000.0
    assert second.cooling_until("key-0") == 0.0  # its slot was the oldest
    assert second.cooling_until("key-1") == 1001.0


def test_one_worker_polls_the_usage_api_per_period_and_all_see_its_windows(views: tuple[SharedState, SharedState]) -> None:
    first, second = views
    assert first.claim_poll(60.0) == 0.0
    wait = second.claim_poll(60.0)
    assert 59.0 < wait <= 60.0
    assert second.windows() == (0, [])
    window = QuotaWindow("tokens", 300, "5-hour", 12.0, None, None, 1795450000.0)
    first.publish_windows([window])
    generation, windows = second.windows()
    assert generation == 1 and windows == [window]


# --------------------------------------------------------------------------- logs from several writers


def _request_log(path: Path) -> RequestLog:
    return RequestLog(path, max_bytes=4096, backups=3, redact=Redactor([]))


def test_two_writers_rotate_the_request_log_by_its_real_size_once(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    writers = [_request_log(path), _request_log(path)]
    for n in range(40):  # 40 records of ~150 bytes: about 6 KB, more than 4 KB but not 8
        writers[n % 2].write({"id": f"req_{n}", "pad": "x" * 100})
    for writer in writers:
        writer.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["requests.jsonl", "requests.jsonl.1"]
    assert all((tmp_path / name).stat().st_size <= 4096 for name in files)
    ids = [json.loads(line)["id"] for name in ("requests.jsonl.1", "requests.jsonl")
           for line in (tmp_path / name).read_text().splitlines()]
    assert ids == [f"req_{n}" for n in range(40)]  # none lost, none out of order


def test_two_writers_rotate_the_server_log_once(tmp_path: Path) -> None:
    path = tmp_path / "server.log"
    handlers = [ServerLog(path, max_bytes=2048, backups=3) for _ in range(2)]
    record = logging.LogRecord("codexglm.server", logging.INFO, __file__, 1, "x" * 90, None, None)
    for n in range(30):  # ~2.7 KB in all
        handlers[n % 2].emit(record)
    for handler in handlers:
        handler.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["server.log", "server.log.1"]
    lines = sum(len((tmp_path / name).read_text().splitlines()) for name in ("server.log", "server.log.1"))
    assert lines == 30


# --------------------------------------------------------------------------- real servers


@dataclass
class Served:
    process: trio.Process
    url: str
    stderr: Path

    token: str = TOKEN

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        # A fresh connection per request: the kernel hands each to whichever worker accepts it.
        bearer = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.AsyncClient(base_url=self.url, headers={**bearer, "Connection": "close"}, timeout=10)

    async def health(self) -> dict[str, Any]:
        async with self.client() as client:
            response = await client.get("/healthz")
        response.raise_for_status()
        document: dict[str, Any] = response.json()
        return document

    async def workers(self, count: int) -> dict[int, dict[str, Any]]:
        """The latest /healthz of each worker, once all COUNT have answered."""
        seen: dict[int, dict[str, Any]] = {}
        with trio.fail_after(30):
            while len(seen) < count:
                document = await self.health()
                seen[document["worker"]["index"]] = document
        return seen


def _env(tmp_path: Path, mock: MockGLM, keys: str = DEFAULT_KEY) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZAI_", "CODEXGLM_"))}
    env.update(
        HOME=str(tmp_path / "home"),
        CODEXGLM_CONFIG_DIR=str(tmp_path / "config"),
        CODEXGLM_STATE_DIR=str(tmp_path / "state"),
        CODEXGLM_CACHE_DIR=str(tmp_path / "cache"),
        CODEXGLM_TOKEN=TOKEN,
        ZAI_API_KEY=keys,
        ZAI_CODING_BASE_URL=mock.coding_url,
        ZAI_BASE_URL=mock.general_url,
    )
    return env


@asynccontextmanager
async def serving(env: dict[str, str], tmp_path: Path, *args: str) -> AsyncIterator[Served]:
    """`codexglm serve --port 0 ARGS` in a child process, stopped (and checked gone) at the end."""
    stderr = tmp_path / "serve.stderr"
    with stderr.open("wb") as err:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "codexglm", "serve", "--port", "0", *args],
            env=env, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
    try:
        assert process.stdout is not None
        said = b""
        with trio.fail_after(60):
            while b"/v1\n" not in said:
                chunk = await process.stdout.receive_some()
                assert chunk, stderr.read_text()
                said += chunk
        port = re.search(rb"127\.0\.0\.1:(\d+)/v1", said)
        assert port is not None, said
        yield Served(process, f"http://127.0.0.1:{int(port.group(1))}", stderr)
    finally:
        if process.returncode is None:
            process.terminate()
            with trio.move_on_after(20):
                await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_two_workers_share_the_port_and_each_gets_half_the_concurrency(tmp_path: Path) -> None:
    async with open_mock_glm() as mock, serving(_env(tmp_path, mock), tmp_path, "--workers", "2") as served:
        workers = await served.workers(2)
        assert {w["worker"]["pid"] for w in workers.values()} != {served.process.pid}
        assert len({w["worker"]["pid"] for w in workers.values()}) == 2
        assert sum(w["upstream"]["max_concurrency"] for w in workers.values()) == Settings().max_concurrency
        async with served.client() as client:
            answer = await client.post("/v1/responses", json=codex_body())
        assert answer.status_code == 200 and "response.completed" in answer.text


async def test_the_plan_usage_is_polled_once_and_shown_by_every_worker(tmp_path: Path) -> None:
    async with open_mock_glm() as mock, serving(_env(tmp_path, mock), tmp_path, "--workers", "2") as served:
        await served.workers(2)
        headers_by_worker: dict[int, str] = {}
        with trio.fail_after(30):
            while len(headers_by_worker) < 2:
                async with served.client() as client:
                    health = (await client.get("/healthz")).json()
                    answer = await client.post("/v1/responses", json=codex_body())
                # The same worker answers both only when they shared a connection; each
                # request below may land on either, so the header is checked per answer.
                if "x-codex-primary-used-percent" in answer.headers:
                    headers_by_worker.setdefault(health["worker"]["index"], answer.headers["x-codex-primary-used-percent"])
                await trio.sleep(0.05)
        assert [r.path for r in mock.requests].count(QUOTA_PATH) == 1
        assert set(headers_by_worker.values()) == {"12"}


async def test_a_key_cooling_down_in_one_worker_is_not_tried_by_the_other(tmp_path: Path) -> None:
    async with open_mock_glm() as mock:
        env = _env(tmp_path, mock, keys=f"zai-revoked-key-0000,{DEFAULT_KEY}")
        async with serving(env, tmp_path, "--workers", "2") as served:
            await served.workers(2)
            async with served.client() as client:
                first = await client.post("/v1/responses", json=codex_body())
            assert "response.completed" in first.text
            workers = await served.workers(2)
            assert [w["upstream"]["keys_cooling"] for w in workers.values()] == [1, 1]
            for _ in range(6):
                async with served.client() as client:
                    await client.post("/v1/responses", json=codex_body())
    # Only the first request ever tried the bad key, whichever worker served the others.
    assert [r.key for r in mock.chat_requests].count("zai-revoked-key-0000") == 1


async def test_sigterm_stops_the_supervisor_and_every_worker(tmp_path: Path) -> None:
    async with open_mock_glm() as mock, serving(_env(tmp_path, mock), tmp_path, "--workers", "2") as served:
        pids = [w["worker"]["pid"] for w in (await served.workers(2)).values()]
        served.process.send_signal(signal.SIGTERM)
        with trio.fail_after(20):
            await served.process.wait()
        assert served.process.returncode == 0, served.stderr.read_text()
        with trio.fail_after(5):
            while any(_alive(pid) for pid in pids):
                await trio.sleep(0.05)


async def test_a_killed_worker_is_replaced_and_requests_keep_working(tmp_path: Path) -> None:
    async with open_mock_glm() as mock, serving(_env(tmp_path, mock), tmp_path, "--workers", "2") as served:
        workers = await served.workers(2)
        victim = workers[1]["worker"]["pid"]
        os.kill(victim, signal.SIGKILL)
        with trio.fail_after(30):
            while True:
                async with served.client() as client:
                    answer = await client.post("/v1/responses", json=codex_body())
                assert answer.status_code == 200 and "response.completed" in answer.text
                health = await served.health()
                if health["worker"]["index"] == 1 and health["worker"]["pid"] != victim:
                    break
        assert not _alive(victim)
        assert re.search(rf"worker 1 \(pid {victim}\) ended \(signal 9\); a new one starts in", served.stderr.read_text())


async def test_a_killed_supervisor_takes_its_workers_with_it(tmp_path: Path) -> None:
    async with open_mock_glm() as mock, serving(_env(tmp_path, mock), tmp_path, "--workers", "2") as served:
        pids = [w["worker"]["pid"] for w in (await served.workers(2)).values()]
        served.process.kill()
        await served.process.wait()
        with trio.fail_after(15):
            while any(_alive(pid) for pid in pids):
                await trio.sleep(0.05)


async def test_the_usage_ledger_gets_every_request_of_every_worker(tmp_path: Path) -> None:
    async with open_mock_glm() as mock:
        env = _env(tmp_path, mock)
        async with serving(env, tmp_path, "--workers", "2") as served:
            await served.workers(2)
            for _ in range(10):
                async with served.client() as client:
                    assert (await client.post("/v1/responses", json=codex_body())).status_code == 200
        usage = subprocess.run([sys.executable, "-m", "codexglm", "usage", "--json"], env=env,
                               capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(usage.stdout)["totals"]["requests"] == 10



@pytest.mark.slow
async def test_workers_outlive_the_thread_that_started_them(tmp_path: Path) -> None:
    # trio starts processes from a cached thread that ends after 10 idle seconds; a worker
    # tied to that thread (PR_SET_PDEATHSIG) was SIGTERMed then and replaced, again and again.
    async with open_mock_glm() as mock, serving(_env(tmp_path, mock), tmp_path, "--workers", "2") as served:
        before = {i: w["worker"]["pid"] for i, w in (await served.workers(2)).items()}
        await trio.sleep(12)
        after = {i: w["worker"]["pid"] for i, w in (await served.workers(2)).items()}
        assert after == before
        assert "ended" not in served.stderr.read_text()


async def test_a_team_gateway_with_two_workers_enforces_one_limit_for_both(tmp_path: Path) -> None:
    async with open_mock_glm() as mock:
        env = gateway_env(tmp_path, mock, "workers", None)
        key = codexglm("keys", "create", "alice", "--rpm", "3", env=env).splitlines()[-1]
        async with serving(env, tmp_path, "--team", "--workers", "2") as served:
            served.token = ADMIN
            await served.workers(2)
            statuses = []
            for _ in range(4):
                async with served.client(key) as client:
                    statuses.append((await client.post("/v1/responses", json=codex_body())).status_code)
        # The minute's count lives in the team database, so the fourth is refused by whichever worker.
        assert statuses == [200, 200, 200, 429]
        assert json.loads(codexglm("usage", "--json", env=env))["totals"]["requests"] == 3


def _kill_workers_until(stop: threading.Event) -> None:
    """SIGKILL every worker of this process (the supervisor) as soon as it appears."""
    while not stop.is_set():
        # trio starts processes from its threads: each thread has its own list of children.
        for child in " ".join(p.read_text() for p in Path("/proc/self/task").glob("*/children")).split():
            try:
                if b"codexglm.server.workers" in Path(f"/proc/{child}/cmdline").read_bytes():
                    os.kill(int(child), signal.SIGKILL)
            except (OSError, ValueError):
                pass  # gone already
        stop.wait(0.05)


def test_workers_that_keep_dying_end_the_server_with_one_line(tmp_path: Path) -> None:
    settings = Settings(api_keys=(DEFAULT_KEY,), log_dir=str(tmp_path / "logs"))
    policy = RestartPolicy(max_restarts=2, window=60.0, first_delay=0.05, max_delay=0.1)
    stop = threading.Event()
    killer = threading.Thread(target=_kill_workers_until, args=(stop,))
    announced = []

    def announce(host: str, port: int) -> None:
        announced.append(port)
        killer.start()

    try:
        with bind("127.0.0.1", 0) as listener, pytest.raises(WorkersFailed) as failed:
            run_workers(ServeJob(settings, TOKEN, "127.0.0.1"), listener, 2, announce, policy=policy)
    finally:
        stop.set()
        if killer.is_alive():
            killer.join()
    assert len(announced) == 1
    assert re.fullmatch(r"workers keep ending \(3 times, the last: worker \d, signal 9\); stopping the server",
                        str(failed.value))


async def test_the_listen_queue_is_the_kernels_not_hypercorns_100(tmp_path: Path) -> None:
    # hypercorn calls listen() again on the socket serve() gives it; with its default of
    # 100, a burst of 500 new sessions overflowed the queue all workers share.
    async with open_mock_glm() as mock, serving(_env(tmp_path, mock), tmp_path, "--workers", "2") as served:
        await served.workers(2)
        port = served.url.rsplit(":", 1)[1]
        listing = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True)
    backlogs = {int(line.split()[2]) for line in listing.stdout.splitlines()}
    assert backlogs == {socket.SOMAXCONN}
