"""A GLM that takes the request and then says nothing, seen through the real Codex: the turn
ends after two bounded waits with one message naming the upstream and the wait, instead of
hanging (fed by keep-alives) for the 600 s read timeout."""

from __future__ import annotations

import pathlib
import time

import pytest

from tests.e2e_harness import Sandbox, make_sandbox
from tests.mockglm import Hang, open_mock_glm, text_reply

pytestmark = pytest.mark.e2e

_WAIT = 3  # first_byte_timeout for these runs, seconds


@pytest.fixture
def sandbox(tmp_path: pathlib.Path) -> Sandbox:
    box = make_sandbox(tmp_path)
    (box.root / "config" / "config.toml").write_text(f"first_byte_timeout = {_WAIT}\nkeepalive_interval = 1\n")
    return box


async def test_a_silent_glm_ends_the_turn_with_a_clear_message(sandbox: Sandbox) -> None:
    async with open_mock_glm() as mock:
        mock.fail_next(20, Hang(600, accepted=True))
        started = time.monotonic()
        run = await sandbox.exec(mock, "Say hello", timeout=90)
        took = time.monotonic() - started
    assert run.returncode == 1, run.describe()
    [failed] = run.of_type("turn.failed")
    message = failed["error"]["message"]
    assert "accepted the request and then sent nothing" in message, message
    assert "coding endpoint" in message.lower() and f"{_WAIT} s" in message, message
    assert not message.startswith("stream disconnected"), message  # shown as is, not retried by Codex
    # One request from Codex, one retry upstream: two bounded waits, then the verdict.
    assert len(mock.chat_requests) == 2
    assert took < 2 * _WAIT + 15, f"took {took:.0f} s"


async def test_one_silent_attempt_is_retried_invisibly(sandbox: Sandbox) -> None:
    async with open_mock_glm() as mock:
        mock.fail_next(1, Hang(600, accepted=True))
        mock.enqueue(text_reply("Hello after the silence."))
        run = await sandbox.exec(mock, "Say hello", timeout=60)
    assert run.returncode == 0, run.describe()
    assert run.messages() == ["Hello after the silence."]
    assert len(mock.chat_requests) == 2
