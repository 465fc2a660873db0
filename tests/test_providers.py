"""The provider seam: a second, fake provider changes the wire without a single `if` in the core.

The fake differs from GLM everywhere a real provider can: reasoning arrives in `reasoning`
and goes back in `reasoning`, thinking is a `reasoning.effort` object, no
`stream_options`, schemas untouched, `max_completion_tokens`, its own error codes and
names.  It is registered the way a built-in is (one registry entry) and served by the
real proxy, which resolves it from `Settings.provider`.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest

from codexglm import providers
from codexglm.codex.contract import judge
from codexglm.providers.base import AUTH, QUOTA, ErrorCode, ModelSpec, Provider
from codexglm.server import create_app
from codexglm.settings import Settings
from codexglm.translate import StreamTranslator, build_chat_request, classify_error, transport_error
from tests import codex_fixtures as cf
from tests.server_support import AUTH as AUTH_HEADER
from tests.server_support import TOKEN, Script, codex_body, glm_frames, sse_events, sse_response

_MODELS = {
    "fm-large": ModelSpec("fm-large", "FakeModel Large", 64_000, 8_000, "effort"),
    "fm-small": ModelSpec("fm-small", "FakeModel Small", 32_000, 4_000, "none"),
}
BASE = "http://fake.invalid/v9"
KEY = "fake-key-123456789"


def _effort(spec: ModelSpec, effort: str | None) -> dict[str, Any]:
    return {"reasoning": {"effort": effort or "medium"}} if spec.thinking != "none" else {}


FAKE = Provider(
    name="fake",
    vendor="FakeCo",
    model_family="FakeModel",
    model_owner="fakeco",
    models=_MODELS,
    default_model="fm-large",
    key_env="FAKECO_API_KEY",
    env_settings={"FAKECO_BASE_URL": "base_url"},
    endpoints=lambda settings: [("default", settings.base_url or BASE)],
    reasoning_fields=("reasoning",),
    reasoning_replay_field="reasoning",
    thinking=_effort,
    max_tokens_field="max_completion_tokens",
    stream_usage_option=False,
    simplify_schemas=False,
    error_codes={"bad_key": ErrorCode(AUTH), "out_of_credit": ErrorCode(QUOTA, "FakeCo credit is gone")},
    key_fix="Set FAKECO_API_KEY.",
)


def _options(**fields: Any) -> Any:
    return cf.options(provider=FAKE, default_model="fm-large", **fields)


def test_request_fields_come_from_the_provider() -> None:
    schema = {"type": "object", "properties": {"a": {"$ref": "#/$defs/x"}}, "$defs": {"x": {"type": "string"}}}
    tool = {"type": "function", "name": "f", "description": "d", "parameters": schema}
    body = cf.body(tools=[tool], model="gpt-5.5", max_output_tokens=100_000, reasoning={"effort": "high"})
    chat = build_chat_request(body, _options()).body
    assert chat["model"] == "fm-large"  # OpenAI slugs land on the provider's default
    assert "stream_options" not in chat and "tool_stream" not in chat and "thinking" not in chat
    assert chat["reasoning"] == {"effort": "high"}
    assert chat["max_completion_tokens"] == 8_000 and "max_tokens" not in chat
    assert chat["tools"][0]["function"]["parameters"]["properties"]["a"] == {"$ref": "#/$defs/x"}  # not simplified


def test_reasoning_is_read_and_replayed_in_the_providers_field() -> None:
    ctx = build_chat_request(cf.body(), _options()).context
    translator = StreamTranslator(ctx, response_id="resp_fake")
    chunks = [
        {"choices": [{"index": 0, "delta": {"reasoning": "Thinking hard."}}]},
        {"choices": [{"index": 0, "delta": {"reasoning_content": "not this provider's field"}}]},
        {"choices": [{"index": 0, "delta": {"content": "Answer."}, "finish_reason": "stop"}]},
    ]
    events = translator.start() + [e for c in chunks for e in translator.feed(c)] + translator.feed_done()
    verdict = judge(events)
    assert verdict.ok, verdict.problems
    assert verdict.reasoning == "Thinking hard." and verdict.text == "Answer."
    reasoning_item = next(e["item"] for e in events if e["type"] == "response.output_item.done" and e["item"]["type"] == "reasoning")
    history = cf.body(reasoning_item, {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Answer."}]},
                      {"type": "message", "role": "user", "content": "next"})
    assistant = next(m for m in build_chat_request(history, _options()).body["messages"] if m["role"] == "assistant")
    assert assistant["reasoning"] == "Thinking hard." and "reasoning_content" not in assistant


def test_errors_are_classified_and_worded_by_the_provider() -> None:
    classify = functools.partial(classify_error, FAKE)
    auth = classify(401, {"error": {"code": "bad_key", "message": "nope"}})
    assert auth.kind == AUTH and auth.message == "FakeCo rejected the API key (FakeModel bad_key: nope). Set FAKECO_API_KEY."
    credit = classify(402, {"error": {"code": "out_of_credit", "message": "pay up"}})
    assert credit.kind == QUOTA and credit.message.startswith("FakeCo credit is gone (FakeModel out_of_credit: pay up).")
    assert not classify(400, {"error": {"code": "1113", "message": "GLM's plan code means nothing here"}}).switch_endpoint
    assert transport_error(FAKE, "connection refused").message == "cannot reach FakeModel: connection refused"
    # GLM's "sensitive" finish reason is a failure only where the provider says so.
    translator = StreamTranslator(build_chat_request(cf.body(), _options()).context)
    chunk = {"choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": "sensitive"}]}
    assert (translator.start() + translator.feed(chunk) + translator.feed_done())[-1]["type"] == "response.completed"
    empty = StreamTranslator(build_chat_request(cf.body(), _options()).context)
    ended = empty.start() + empty.feed({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}) + empty.feed_done()
    assert ended[-1]["response"]["error"]["message"] == "FakeModel ended the response without any answer text or tool call."


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake as a built-in: one registry line."""
    monkeypatch.setitem(providers._BUILT_IN, FAKE.name, FAKE)


@pytest.mark.usefixtures("registered")
async def test_the_proxy_serves_a_registered_provider_end_to_end(tmp_path: Path) -> None:
    settings = Settings(provider="fake", api_keys=(KEY,), default_model="fm-large",
                        log_dir=str(tmp_path / "logs"))
    script = Script(sse_response(glm_frames([
        {"choices": [{"index": 0, "delta": {"reasoning": "Hmm."}}]},
        {"choices": [{"index": 0, "delta": {"content": "Hi from FakeCo."}, "finish_reason": "stop"}],
         "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}},
    ])))
    app = create_app(settings, TOKEN, transport=script.transport)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        response = await client.post("/v1/responses", json=codex_body(model="gpt-5.5"), headers=AUTH_HEADER)
        verdict = judge(sse_events(await response.get_data()))
        models = await (await client.get("/v1/models", headers=AUTH_HEADER)).get_json()
    assert verdict.ok, verdict.problems
    assert verdict.text == "Hi from FakeCo." and verdict.reasoning == "Hmm."
    assert script.urls == [f"{BASE}/chat/completions"]
    sent = json.loads(script.requests[0].content)
    assert sent["model"] == "fm-large" and "stream_options" not in sent
    assert [m["id"] for m in models["data"]] == ["fm-large", "fm-small"] and models["data"][0]["owned_by"] == "fakeco"


@pytest.mark.usefixtures("registered")
def test_config_reads_the_providers_own_variables(tmp_path: Path) -> None:
    from codexglm.config import load_config

    env = {"CODEXGLM_PROVIDER": "fake", "FAKECO_API_KEY": "fk-abcdefgh1234", "FAKECO_BASE_URL": "http://127.0.0.1:9/v1",
           "ZAI_API_KEY": "zai-key-not-this-one", "CODEXGLM_CONFIG_DIR": str(tmp_path)}
    loaded = load_config(env=env)
    assert loaded.settings.provider == "fake" and loaded.settings.api_keys == ("fk-abcdefgh1234",)
    assert loaded.settings.endpoints() == [("default", "http://127.0.0.1:9/v1")]
    assert loaded.sources["api_keys"] == "env FAKECO_API_KEY"
