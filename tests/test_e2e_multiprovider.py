"""The real Codex through codexglm with two providers: GLM and FakeCo, each on its own mock.

One Codex session starts on GLM and is resumed with `-m fake/fm-large`; in another the main
agent on GLM spawns a sub-agent on FakeCo.  Each request goes to its model's provider with
that provider's key and request shape, and the catalog Codex loads lists both providers'
models.
"""

from __future__ import annotations

import json
import pathlib

import pytest

from tests.e2e_harness import Sandbox, make_sandbox, sub_agent_parent
from tests.mockglm import DEFAULT_KEY, open_mock_glm, text_reply
from tests.test_providers import FAKE, KEY

pytestmark = pytest.mark.e2e
ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def sandbox(tmp_path: pathlib.Path) -> Sandbox:
    box = make_sandbox(tmp_path)
    box.entry = "tests.second_provider_main"
    box.extra_env["PYTHONPATH"] = str(ROOT)
    box.extra_env["FAKECO_API_KEY"] = KEY
    return box


async def test_one_session_on_two_providers(sandbox: Sandbox) -> None:
    async with open_mock_glm() as glm, open_mock_glm(keys={KEY: {"general"}}, models=FAKE.models) as fake:
        sandbox.extra_env["FAKECO_BASE_URL"] = fake.general_url
        glm.enqueue(text_reply("GLM here: Paris.", reasoning="A geography question."))
        fake.enqueue(text_reply("FakeCo here: Berlin."))
        first = await sandbox.exec(glm, "What is the capital of France?")
        assert first.returncode == 0, first.describe()
        second = await sandbox.exec(glm, "resume", "--last", "-m", "fake/fm-large", "And of Germany?")
        assert second.returncode == 0, second.describe()
    assert first.messages() == ["GLM here: Paris."] and second.messages() == ["FakeCo here: Berlin."]
    # Each request went to its provider's mock, with that provider's key and model id.
    assert [(r.json["model"], r.key) for r in glm.chat_requests] == [("glm-5.3", DEFAULT_KEY)]
    assert [(r.json["model"], r.key) for r in fake.chat_requests] == [("fm-large", KEY)]
    # FakeCo's own request shape, GLM's own.
    sent = fake.chat_requests[0].json
    assert "stream_options" not in sent and "thinking" not in sent and sent["reasoning"]["effort"]
    assert "stream_options" in glm.chat_requests[0].json
    # The same session: the resumed request replays the GLM turn.
    replayed = json.dumps(sent["messages"])
    assert "What is the capital of France?" in replayed and "GLM here: Paris." in replayed
    # Codex loaded one catalog with both providers' models under unique slugs.
    [catalog] = (sandbox.root / "cache").glob("catalog-*.json")
    slugs = {m["slug"] for m in json.loads(catalog.read_text())["models"]}
    assert {"glm-5.3", "glm-5.4", "fake/fm-large", "fake/fm-small"} <= slugs
    # No "model metadata not found": Codex knows both models; only its own note on the switch.
    assert first.items("error") == []
    assert [e["message"] for e in second.items("error")] == [
        "This session was recorded with model `glm-5.3` but is resuming with `fake/fm-large`. "
        "Consider switching back to `glm-5.3` as it may affect Codex performance."
    ]


async def test_a_provider_without_a_key_is_named_with_its_login(sandbox: Sandbox) -> None:
    del sandbox.extra_env["FAKECO_API_KEY"]
    async with open_mock_glm() as glm:
        run = await sandbox.exec(glm, "-m", "fake/fm-large", "hi")
    assert glm.chat_requests == []
    errors = " ".join(e.get("message", "") for e in run.of_type("error")) + " ".join(
        e.get("error", {}).get("message", "") for e in run.of_type("turn.failed"))
    assert "FakeCo" in errors and "codexglm login fake" in errors, run.describe()


# The GLM main agent: spawn a sub-agent on FakeCo's model, wait for it, answer.
_DELEGATE_TO_FAKE = sub_agent_parent({"message": "compute the answer", "model": "fake/fm-large"},
                                     "The FakeCo sub-agent found 42.")


async def test_a_sub_agent_runs_on_another_providers_model(sandbox: Sandbox) -> None:
    async with (
        open_mock_glm(handler=_DELEGATE_TO_FAKE) as glm,
        open_mock_glm(keys={KEY: {"general"}}, models=FAKE.models, handler=lambda body: text_reply("42")) as fake,
    ):
        sandbox.extra_env["FAKECO_BASE_URL"] = fake.general_url
        run = await sandbox.exec(glm, "Delegate the computation to a sub-agent")
    assert run.returncode == 0, run.describe()
    spawn, wait = run.items("collab_tool_call")
    [child] = spawn["receiver_thread_ids"]
    assert wait["agents_states"][child] == {"status": "completed", "message": "42"}
    assert run.messages() == ["The FakeCo sub-agent found 42."]
    # The parent's three turns on GLM, the child's one on FakeCo, each with its own key.
    assert [(r.json["model"], r.key) for r in glm.chat_requests] == [("glm-5.3", DEFAULT_KEY)] * 3
    [child_request] = fake.chat_requests
    assert (child_request.json["model"], child_request.key) == ("fm-large", KEY)
    assert child_request.json["messages"][-1]["content"].endswith("compute the answer")
