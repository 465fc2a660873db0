"""codexglm ended every way a session can end while the real proxy is mid-stream.

200 randomized runs of `codexglm exec`, forked from tests.test_launcher's warm zygote with
tests/fake_codex.py as codex.  In each, the fake asks the proxy for a streamed answer that
the mock GLM trickles out, and then one of these happens: codex exits normally or with an
error once the answer is complete; or, with the stream still flowing, codex is SIGKILLed,
or codexglm itself gets SIGTERM, SIGHUP or SIGKILL.  After every run the exit status is
the one a shell would show, no process of the run's session is left, the proxy's port is
closed and the temp dir is empty.  (The launcher's own 100-run test covers the start-up
phases and Ctrl-C; this one covers shutdown with traffic in flight.)  Three lanes, each
with its own zygote, sandbox and mock GLM, run side by side.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.launcher_support import ROOT, ZYGOTE, Rig, alive, read_line
from tests.mockglm import DEFAULT_KEY, MockGLM, Stream, open_mock_glm, text_reply

RUNS = 200
LANES = 3
SEED = 20261124
KILL_GRACE = 0.5  # the launcher's SIGTERM -> SIGKILL escalation, shortened for the zygote
SIGNALS = {"term": signal.SIGTERM, "hup": signal.SIGHUP, "kill": signal.SIGKILL, "codex-killed": signal.SIGKILL}
ENDINGS = ("exit", "error", "codex-killed", "term", "hup", "kill")
BLOWS = ("codex-killed", "term", "hup", "kill")  # struck while the answer is still streaming

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc and relies on PR_SET_PDEATHSIG"
)


@dataclass(frozen=True)
class Plan:
    run: int
    ending: str
    code: int  # what codex exits with if nothing strikes first
    delay: float  # seconds into the stream before the blow

    @property
    def expected(self) -> int:
        """codexglm's exit status as the zygote reports it (a signal N is -N)."""
        return {
            "exit": self.code,
            "error": self.code,
            "codex-killed": 128 + signal.SIGKILL,
            "term": 128 + signal.SIGTERM,
            "hup": 128 + signal.SIGHUP,
            "kill": -signal.SIGKILL,
        }[self.ending]


def _plans() -> list[Plan]:
    rng = random.Random(SEED)
    plans = []
    for run in range(RUNS):
        ending = ENDINGS[run % len(ENDINGS)]  # every ending equally often, in a shuffled order
        code = 0 if ending == "exit" else rng.choice([1, 2, 3, 42, 255])
        plans.append(Plan(run, ending, code, rng.uniform(0.0, 0.25)))
    rng.shuffle(plans)
    return plans


def _short_answer() -> Stream:
    return text_reply("All done here.", reasoning="Quick one.")


def _endless_answer() -> Stream:
    # Forty seconds of one-character deltas: whatever ends the run, the stream is still going.
    reply = text_reply("x" * 2000, chunk_size=1)
    reply.gap = 0.02
    return reply


class Lane:
    """One sandbox (fake codex, private dirs, its own mock GLM) and the zygote forking its runs."""

    def __init__(self, rig: Rig, mock: MockGLM) -> None:
        self.rig = rig
        self.mock = mock
        rig.env.update(
            ZAI_API_KEY=DEFAULT_KEY,
            ZAI_CODING_BASE_URL=mock.coding_url,
            FAKE_CODEX_PATH="responses",
        )
        self.request_log = rig.tmp / "state" / "requests.jsonl"  # the proxy's, shared by the lane's runs
        self.output = rig.tmp / "codexglm.out"  # codexglm's (and codex's) stdout and stderr, all runs
        self.running: int | None = None  # the codexglm of the run in progress
        self.zygote = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE, str(KILL_GRACE)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            bufsize=0,
        )

    async def _line(self, timeout: float) -> dict[str, Any]:
        assert self.zygote.stdout is not None
        return await trio.to_thread.run_sync(read_line, self.zygote.stdout, timeout)

    async def run(self, plan: Plan) -> None:
        rig = self.rig
        rig.log = rig.tmp / f"run{plan.run}.jsonl"  # Rig.events() and assert_clean() read this run's log
        env = {**rig.env, "FAKE_CODEX_LOG": str(rig.log), "FAKE_CODEX_SCRIPT": f"request,exit:{plan.code}"}
        seen = len(self.mock.chat_requests)
        logged = len(self._records())
        self.mock.enqueue(_endless_answer() if plan.ending in BLOWS else _short_answer())
        request = {"argv": ["exec", f"run {plan.run}"], "env": env, "output": str(self.output)}
        assert self.zygote.stdin is not None
        self.zygote.stdin.write((json.dumps(request) + "\n").encode())
        pid = self.running = (await self._line(30))["pid"]
        if plan.ending in BLOWS:
            await _until(lambda: len(self.mock.chat_requests) > seen)  # the answer is streaming now
            await trio.sleep(plan.delay)
            target = rig.wait_for("start")["pid"] if plan.ending == "codex-killed" else pid
            os.kill(target, SIGNALS[plan.ending])
        status = (await self._line(30))["status"]
        self.running = None
        context = f"{plan}: status {status}, codex log {rig.events()}"
        assert status == plan.expected, context
        await trio.to_thread.run_sync(rig.assert_clean, pid)  # no process, no port, no temp file left
        self._check_codex_side(plan, context)
        self._check_proxy_side(plan, self._records()[logged:], context)

    def _records(self) -> list[dict[str, Any]]:
        if not self.request_log.exists():
            return []
        return [json.loads(line) for line in self.request_log.read_text().splitlines()]

    def _check_proxy_side(self, plan: Plan, records: list[dict[str, Any]], context: str) -> None:
        """Unless it was SIGKILLed, the proxy closed the books on the stream before exiting."""
        if plan.ending == "kill":
            assert records == [], context
            return
        assert [(r["path"], r["status"]) for r in records] == [("/v1/responses", 200)], (context, records)
        allowed = {"completed"} if plan.ending in ("exit", "error") else {"disconnected", "shutdown"}
        assert records[0]["outcome"] in allowed, (context, records)

    def _check_codex_side(self, plan: Plan, context: str) -> None:
        requests = self.rig.events("request")
        signals = [event["signal"] for event in self.rig.events("signal")]
        if plan.ending in BLOWS:
            assert requests == [], context  # it struck before the answer was over
        else:
            assert [r["status"] for r in requests] == [200], context
            assert "response.completed" in requests[0]["body"], context
        if plan.ending in ("term", "hup"):
            assert signals == [SIGNALS[plan.ending].name], context  # forwarded to codex, once
        elif plan.ending == "kill":
            # PR_SET_PDEATHSIG sends SIGTERM, unless the fake first dies of the connection the
            # dead proxy dropped; either way assert_clean saw it gone.  Linux delivers it again
            # at each reparenting (the launcher's worker thread dies after its main thread), so
            # it may come more than once; it is never another signal.
            assert set(signals) <= {"SIGTERM"}, context
        else:
            assert signals == [], context

    def close(self) -> None:
        if self.running is not None:  # a run failed half-way: end its session so the zygote can go
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.running, signal.SIGKILL)
        assert self.zygote.stdin is not None
        self.zygote.stdin.close()
        try:
            self.zygote.wait(timeout=30)
        finally:
            if self.zygote.poll() is None:
                self.zygote.kill()
                self.zygote.wait()
            for log in self.rig.tmp.glob("run*.jsonl"):  # never leak a fake codex, even on failure
                for line in log.read_text().splitlines():
                    event = json.loads(line)
                    if event["event"] == "start" and alive(event["pid"]):
                        os.kill(event["pid"], signal.SIGKILL)


async def _until(condition: Callable[[], bool], timeout: float = 20) -> None:
    with trio.fail_after(timeout):
        while not condition():
            await trio.sleep(0.005)


# The one line codexglm prints after Codex exits (its usage); nothing else may appear.
_EXIT_LINE = re.compile(r"codexglm: \d+ requests? · [^\n]+ in \([^\n]+ cached\), [^\n]+ out · ")


@asynccontextmanager
async def _lane(root: Path) -> AsyncIterator[Lane]:
    root.mkdir()
    async with open_mock_glm() as mock:
        lane = Lane(Rig(root), mock)
        try:
            yield lane
        finally:
            lane.close()


@pytest.mark.slow
async def test_200_sessions_ended_mid_stream_leave_nothing_behind(tmp_path: Path) -> None:
    plans = _plans()
    send, receive = trio.open_memory_channel[Plan](len(plans))
    for plan in plans:
        send.send_nowait(plan)
    send.close()
    done: list[Plan] = []

    async def work(index: int) -> None:
        async with _lane(tmp_path / f"lane{index}") as lane:
            async for plan in receive:
                await lane.run(plan)
                done.append(plan)
            # codexglm said nothing on the terminal in any run, however it ended, but its exit line.
            lines = lane.output.read_text().splitlines()
            assert [line for line in lines if line.startswith("codexglm") and not _EXIT_LINE.match(line)] == []

    async with trio.open_nursery() as nursery:
        for index in range(LANES):
            nursery.start_soon(work, index)
    assert sorted(plan.run for plan in done) == list(range(RUNS))
