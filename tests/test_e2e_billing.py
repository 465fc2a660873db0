"""Billing safety through the real Codex: auto mode never moves a request onto a Z.ai path
that spends cash unless the key type says it spends nothing new, or the user opted in."""

from __future__ import annotations

import pathlib

import pytest

from tests.e2e_harness import Sandbox, make_sandbox
from tests.mockglm import CODING_PATH, DEFAULT_KEY, GENERAL_PATH, open_mock_glm, text_reply

pytestmark = pytest.mark.e2e


@pytest.fixture
def sandbox(tmp_path: pathlib.Path) -> Sandbox:
    box = make_sandbox(tmp_path)
    box.extra_env["GLM_ZAI_ENDPOINT_MODE"] = "auto"
    return box


async def test_a_key_of_unknown_type_is_not_moved_onto_cash(sandbox: Sandbox) -> None:
    async with open_mock_glm(keys={}) as mock:
        # An old (Compatible) key without a plan: the Coding Plan path answers 1113, the
        # general path would serve it from the cash balance.
        mock.add_key(DEFAULT_KEY, "compatible-payg")
        run = await sandbox.exec(mock, "hi", timeout=90)
    assert run.returncode == 1, run.describe()
    [failed] = run.of_type("turn.failed")
    message = failed["error"]["message"]
    assert "GLM 1113" in message and "spends your cash balance" in message and "codexglm login" in message
    assert [r.path.removesuffix("/chat/completions") for r in mock.chat_requests] == [CODING_PATH]
    assert not mock.spent_cash


@pytest.mark.parametrize("opt_in", [{"GLM_ZAI_KEY_TYPE": "compatible", "GLM_PAID_FALLBACK": "true"},
                                    {"GLM_ZAI_KEY_TYPE": "standard"}])
async def test_with_the_user_opted_in_or_a_cash_key_the_fallback_runs(sandbox: Sandbox, opt_in: dict[str, str]) -> None:
    sandbox.extra_env.update(opt_in)
    async with open_mock_glm(keys={}) as mock:
        mock.add_key(DEFAULT_KEY, "compatible-payg")
        mock.enqueue(text_reply("Served from the general path."))
        run = await sandbox.exec(mock, "hi", timeout=90)
    assert run.returncode == 0, run.describe()
    assert run.messages() == ["Served from the general path."]
    assert [r.path.removesuffix("/chat/completions") for r in mock.chat_requests] == [CODING_PATH, GENERAL_PATH]
