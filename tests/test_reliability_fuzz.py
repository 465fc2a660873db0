"""Hostile and malformed input against the real proxy app: never a 500, never a hang.

Each hypothesis example runs `create_app` in a fresh trio loop behind httpx's ASGI
transport (which buffers the whole answer, so a long stream cannot block on the test
client) and checks the one property every client relies on: an answer is either a 4xx
OpenAI error body or a well-formed stream ending in exactly one terminal event, the
proxy logs no internal error, and no request slot or upstream slot is left taken.

Upstream is the strict mock GLM over loopback for client-side fuzzing (so every
translated body is also checked against GLM's rules), or a scripted transport on a
virtual clock for hostile upstream answers (so retries and backoff cost nothing).
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trio.testing import MockClock

from codexglm.codex.contract import judge
from codexglm.providers.glm.models import MODELS
from codexglm.server import create_app
from codexglm.server.app import ProxyApp, allowed_hosts
from codexglm.settings import Settings
from codexglm.translate.reasoning import encode_compaction, encode_reasoning
from tests import codex_fixtures as cf
from tests.mockglm import DEFAULT_KEY, open_mock_glm
from tests.server_support import AUTH, TOKEN, Script, http_response, make_settings

PER_EXAMPLE = 15.0  # seconds; a hang fails the example instead of the suite
# On the virtual clock retries may legitimately wait out key cool-downs and the retry budget.
PER_EXAMPLE_VIRTUAL = 3600.0
MAX_BODY = 256 * 1024  # the app's body limit here, so the 413 path is reachable cheaply
TERMINAL = {"response.completed": "completed", "response.failed": "failed", "response.incomplete": "incomplete"}


def _fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
    )


# --------------------------------------------------------------------------- running one exchange


@dataclass
class Exchange:
    status: int
    content_type: str
    data: bytes
    upstream: list[bytes] = field(default_factory=list)  # request bodies GLM received


class _Errors(logging.Handler):
    """Collects what codexglm logs at ERROR: each one is a swallowed internal failure."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _no_internal_errors() -> Iterator[None]:
    handler = _Errors()
    logger = logging.getLogger("codexglm")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    assert not handler.records, [r.getMessage() + "\n" + str(r.exc_info and r.exc_info[1]) for r in handler.records]


async def _ask(
    app: ProxyApp, method: str, path: str, body: bytes, headers: dict[str, str], *, limit: float = PER_EXAMPLE
) -> tuple[int, str, bytes]:
    async with app.test_app():
        transport = httpx.ASGITransport(app)  # raises whatever escapes the app: that is a failure too
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as client:
            with trio.fail_after(limit):
                response = await client.request(method, path, content=body, headers=headers)
        # Every request has been accounted for and has given its upstream slot back.
        assert app.proxy.in_flight == 0
        assert app.proxy.upstream.limiter.borrowed_tokens == 0
    return response.status_code, response.headers.get("content-type", ""), response.content


async def _via_mock_glm(root: Path, body: bytes, path: str, content_type: str) -> Exchange:
    async with open_mock_glm() as mock:
        settings = _settings(root, coding_base_url=mock.coding_url, base_url=mock.general_url)
        headers = {**AUTH, "Content-Type": content_type}
        status, kind, data = await _ask(create_app(settings, TOKEN), "POST", path, body, headers)
        return Exchange(status, kind, data, [r.body for r in mock.chat_requests])


async def _via_script(root: Path, body: bytes, script: Script) -> Exchange:
    app = create_app(_settings(root), TOKEN, transport=script.transport)
    headers = {**AUTH, "Content-Type": "application/json"}
    status, kind, data = await _ask(app, "POST", "/v1/responses", body, headers, limit=PER_EXAMPLE_VIRTUAL)
    return Exchange(status, kind, data, [r.content for r in script.requests])


def _settings(root: Path, **overrides: Any) -> Settings:
    return make_settings(root, api_keys=(DEFAULT_KEY,), log_bodies=True, max_body_bytes=MAX_BODY, **overrides)


def _exchange_with_mock(
    root: Path, body: bytes, path: str = "/v1/responses", content_type: str = "application/json"
) -> Exchange:
    with _no_internal_errors():
        return trio.run(_via_mock_glm, root, body, path, content_type)


def _exchange_with_script(root: Path, body: bytes, script: Script) -> Exchange:
    with _no_internal_errors():
        return trio.run(partial(_via_script, root, body, script), clock=MockClock(autojump_threshold=0))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


# --------------------------------------------------------------------------- what a good answer is


def _error(exchange: Exchange) -> dict[str, Any]:
    """The OpenAI error object of an error answer (asserting its shape)."""
    assert exchange.content_type == "application/json", exchange
    error = json.loads(exchange.data)["error"]
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["type"], str) and error["type"], error
    assert "code" in error and error.get("code") != "internal_error", error
    return error


def _stream(data: bytes) -> list[dict[str, Any]]:
    """A Responses event stream, parsed strictly: `event:` + `data:` per block, numbered from 1,
    `response.created` first, exactly one terminal event and nothing after it."""
    text = data.decode("utf-8")
    assert text.endswith("\n\n"), text[-200:]
    events = []
    for block in text[:-2].split("\n\n"):
        name, payload = block.split("\n")
        assert name.startswith("event: ") and payload.startswith("data: "), block
        event = json.loads(payload[len("data: ") :])
        assert event["type"] == name[len("event: ") :], block
        events.append(event)
    kinds = [e["type"] for e in events]
    assert [e["sequence_number"] for e in events] == list(range(1, len(events) + 1))
    assert kinds[0] == "response.created"
    assert sum(kind in TERMINAL for kind in kinds) == 1 and kinds[-1] in TERMINAL, kinds
    final = events[-1]["response"]
    assert final["status"] == TERMINAL[kinds[-1]]
    if final["status"] == "failed":
        assert "internal error" not in final["error"]["message"], final["error"]
    verdict = judge(events)
    assert verdict.ok, verdict.problems
    return events


def _outcome(exchange: Exchange) -> str:
    """The answer's final status, or "rejected" for a 4xx; asserts the answer is well formed."""
    if 400 <= exchange.status < 500:
        _error(exchange)
        return "rejected"
    assert exchange.status == 200, (exchange.status, exchange.data[:500])
    if exchange.content_type.startswith("text/event-stream"):
        return _stream(exchange.data)[-1]["response"]["status"]
    answer = json.loads(exchange.data)
    assert answer["object"] == "response" and answer["status"] in ("completed", "incomplete", "failed"), answer
    return answer["status"]


def _strict_json(raw: bytes) -> Any:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON, yet it was sent to GLM")

    return json.loads(raw, parse_constant=refuse)


# --------------------------------------------------------------------------- strategies

_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
_text = st.text(max_size=40)
_short = st.text(max_size=10)
_call_ids = st.sampled_from(["call_1", "call_2", "call_3"]) | _short
_names = st.sampled_from(["exec_command", "apply_patch", "view_image", "spawn_agent", "echo", "tool_search"]) | st.text(
    max_size=70
)
_namespaces = st.none() | st.sampled_from(["mcp__mini", "multi_agent_v1", "functions"]) | st.text(max_size=20)
_image_urls = st.sampled_from(["data:image/png;base64,iVBORw0KGgo=", "https://example.com/a.png", ""]) | _json

_part = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            [
                "input_text",
                "output_text",
                "text",
                "refusal",
                "input_image",
                "input_file",
                "input_audio",
                "summary_text",
                "reasoning_text",
            ]
        )
        | _short
    },
    optional={"text": _text | _json, "image_url": _image_urls, "file_id": _short, "refusal": _text, "detail": _short},
)
_parts = st.lists(_part | _json, max_size=4)
_content = _text | _parts | _json

_schema = st.recursive(
    st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["string", "number", "integer", "boolean", "null", "object", "array"])
            | st.lists(st.sampled_from(["string", "null", "object", "array"]), max_size=3)
            | _json,
            "description": _text,
            "enum": st.lists(_scalars, max_size=4),
            "const": _scalars,
            "default": _json,
            "$ref": st.sampled_from(
                ["#", "#/$defs/A", "#/definitions/B", "#/properties/x", "#/$defs/missing", "http://x.test/s"]
            )
            | _short,
        },
    ),
    lambda inner: st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["object", "array"]) | _json,
            "properties": st.dictionaries(_short, inner, max_size=3),
            "items": inner | st.lists(inner, max_size=2),
            "anyOf": st.lists(inner, max_size=3),
            "oneOf": st.lists(inner, max_size=3),
            "allOf": st.lists(inner, max_size=3),
            "additionalProperties": st.booleans() | inner,
            "required": st.lists(_short, max_size=3) | _json,
            "$defs": st.dictionaries(st.sampled_from(["A", "B"]), inner, max_size=2),
        },
    ),
    max_leaves=12,
)
_function_tools = st.fixed_dictionaries(
    {"type": st.just("function"), "name": _names},
    optional={"description": _text | _json, "parameters": _schema | _json, "strict": _json},
)
_tools = st.one_of(
    st.sampled_from(cf.TOOLS).map(copy.deepcopy),
    _function_tools,
    st.fixed_dictionaries(
        {"type": st.just("custom"), "name": _names},
        optional={
            "description": _text,
            "format": st.fixed_dictionaries({"type": st.just("grammar"), "syntax": _short, "definition": _text})
            | _json,
        },
    ),
    st.fixed_dictionaries(
        {"type": st.just("namespace"), "name": _names, "tools": st.lists(_function_tools, max_size=3) | _json}
    ),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["web_search", "tool_search", "local_shell", "image_generation"])},
        optional={"parameters": _schema},
    ),
    _json,
)


def _typed(
    kind: st.SearchStrategy[str], required: dict[str, Any], optional: dict[str, Any] | None = None
) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({"type": kind, **required}, optional=optional or {})


# Every item type Codex 0.169 sends, plus unknown ones, with fields of plausible and wrong types.
_known_items = st.one_of(
    _typed(
        st.just("message"),
        {"role": st.sampled_from(["user", "assistant", "developer", "system", "tool"]) | _short, "content": _content},
        {"id": _short, "status": _short, "phase": _short},
    ),
    st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "developer"]), "content": _content}),
    _typed(
        st.just("reasoning"),
        {"summary": _parts | _json},
        {
            "content": st.none() | _parts,
            "encrypted_content": st.none()
            | _text
            | st.builds(encode_reasoning, _text)
            | _short.map(lambda t: "codexglm.reasoning.v1:" + t),
        },
    ),
    _typed(
        st.just("function_call"),
        {"call_id": _call_ids, "name": _names | _json},
        {"arguments": _json.map(json.dumps) | _text | _json, "namespace": _namespaces | _json, "id": _short},
    ),
    _typed(
        st.just("custom_tool_call"),
        {"call_id": _call_ids, "name": _names},
        {"input": _text | _json, "namespace": _namespaces},
    ),
    _typed(
        st.just("local_shell_call"),
        {"call_id": _call_ids},
        {"action": st.fixed_dictionaries({"type": st.just("exec"), "command": st.lists(_short)}) | _json},
    ),
    _typed(st.just("tool_search_call"), {"call_id": _call_ids}, {"arguments": _json}),
    _typed(
        st.sampled_from(["function_call_output", "custom_tool_call_output"]),
        {"call_id": _call_ids | _json},
        {"output": _text | _parts | st.fixed_dictionaries({"content": _text | _json, "success": _json}) | _json},
    ),
    _typed(st.just("tool_search_output"), {"call_id": _call_ids}, {"tools": st.lists(_tools, max_size=3) | _json}),
    _typed(
        st.sampled_from(["compaction", "compaction_summary", "context_compaction"]),
        {"encrypted_content": st.builds(encode_compaction, _text) | _text | _json},
    ),
    _typed(st.just("additional_tools"), {"tools": st.lists(_tools, max_size=3) | _json}),
    _typed(
        st.sampled_from(
            ["web_search_call", "image_generation_call", "compaction_trigger", "configuration_update", "agent_message"]
        ),
        {},
    ),
    _typed(_short, {}, {"content": _content, "role": _short}),
)
_field_names = (
    st.sampled_from(
        [
            "type",
            "role",
            "content",
            "call_id",
            "name",
            "arguments",
            "output",
            "tools",
            "summary",
            "encrypted_content",
            "namespace",
            "input",
        ]
    )
    | _short
)
_items = st.builds(
    lambda item, extra: {**item, **extra}, _known_items, st.dictionaries(_field_names, _json, max_size=2)
)
_numbers = st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _json
# Resolvable model names only: an unknown `glm-*` id is passed on and GLM would rightly refuse it.
_models = st.sampled_from([*MODELS, "gpt-5.4", "gpt-5.5-codex", "zai/glm-4.6", "o3"]) | st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-_", min_size=1, max_size=20
).filter(lambda name: not name.startswith("glm"))

_codex_bodies = st.fixed_dictionaries(
    {
        "model": _models,
        "input": st.builds(
            lambda prefix, items: (cf.prefix() if prefix else []) + items, st.booleans(), st.lists(_items, max_size=12)
        )
        | _text,
        "stream": st.booleans(),
    },
    optional={
        "instructions": _text | _json,
        "tools": st.lists(_tools, max_size=6),
        "tool_choice": st.sampled_from(["auto", "none", "required"]) | _json,
        "parallel_tool_calls": _json,
        "reasoning": st.fixed_dictionaries(
            {},
            optional={
                "effort": st.sampled_from(["none", "minimal", "low", "medium", "high", "xhigh", "max"]) | _json,
                "summary": _json,
            },
        )
        | _json,
        "text": st.fixed_dictionaries(
            {},
            optional={
                "format": st.fixed_dictionaries(
                    {"type": st.sampled_from(["json_schema", "json_object", "text"]) | _json},
                    optional={"schema": _schema | _json, "name": _short, "strict": _json},
                )
                | _json,
                "verbosity": _json,
            },
        )
        | _json,
        "temperature": _numbers,
        "top_p": _numbers,
        "max_output_tokens": _numbers,
        "store": _json,
        "include": _json,
        "prompt_cache_key": _json,
        "client_metadata": _json,
        "service_tier": _json,
    },
)


def _encode(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


_valid_bodies = st.builds(
    lambda prompt, stream: _encode(cf.body(prompt=prompt, stream=stream)), _text, st.booleans()
) | _codex_bodies.map(_encode)


def _cut(data: bytes, fraction: float) -> bytes:
    return data[: int(len(data) * fraction)]


def _insert(data: bytes, fraction: float, piece: bytes) -> bytes:
    at = int(len(data) * fraction)
    return data[:at] + piece + data[at:]


def _nested(depth: int, opener: str, where: str) -> bytes:
    nest = ('{"a":' * depth + "1" + "}" * depth) if opener == "{" else ("[" * depth + "]" * depth)
    holders = {
        "input": '{"model":"glm-5.1","input":%s}',
        "junk": '{"model":"glm-5.1","input":"hi","junk":%s}',
        "default": '{"model":"glm-5.1","input":"hi","tools":[{"type":"function","name":"f",'
        '"parameters":{"type":"object","properties":{"a":{"default":%s}}}}]}',
        "arguments": '{"model":"glm-5.1","input":[{"type":"function_call","name":"f","call_id":"c","arguments":%s}]}',
    }
    return (holders[where] % nest).encode()


def _tainted(value: Any) -> Any:
    """VALUE with a lone surrogate appended to every string (JSON can carry one, UTF-8 cannot)."""
    if isinstance(value, str):
        return value + "\udc80"
    if isinstance(value, list):
        return [_tainted(inner) for inner in value]
    if isinstance(value, dict):
        return {key: _tainted(inner) for key, inner in value.items()}
    return value


_raw_bodies = st.one_of(
    st.binary(max_size=300),
    _json.map(_encode),
    st.builds(_cut, _valid_bodies, st.floats(0, 1)),
    st.builds(
        _insert,
        _valid_bodies,
        st.floats(0, 1),
        st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\xe2\x82", b"\xef\xbb\xbf"]),
    ),
    st.builds(
        _insert,
        _valid_bodies,
        st.floats(0, 1),
        st.sampled_from([b'"', b"}", b",", b"\\", b"NaN", b"-Infinity", b"\\ud800"]),
    ),
    st.builds(
        _nested, st.integers(1, 2000), st.sampled_from("[{"), st.sampled_from(["input", "junk", "default", "arguments"])
    ),
    st.builds(
        lambda n, stream: _encode({"model": "glm-5.1", "stream": stream, "input": "x" * n}),
        st.integers(0, 2 * MAX_BODY),
        st.booleans(),
    ),
    st.builds(lambda body: b"\xef\xbb\xbf" + body, _valid_bodies),
    _codex_bodies.map(lambda body: json.dumps(_tainted(body)).encode()),
    st.builds(lambda body: json.dumps(cf.body()).encode(body), st.sampled_from(["utf-16", "utf-32", "latin-1"])),
)


# --------------------------------------------------------------------------- client side


@_fuzz(150)
@given(
    body=_raw_bodies,
    path=st.sampled_from(["/v1/responses", "/responses", "/v1/chat/completions"]),
    content_type=st.sampled_from(
        ["application/json", "text/plain", "", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
    ),
)
def test_malformed_bodies_get_an_error_body_or_a_valid_answer(
    root: Path, body: bytes, path: str, content_type: str
) -> None:
    exchange = _exchange_with_mock(root, body, path, content_type)
    for sent in exchange.upstream:
        _strict_json(sent)
    if path == "/v1/chat/completions":
        # The pass-through forwards whatever it is given; GLM's refusals come back as 4xx.
        if exchange.status == 200 and exchange.content_type.startswith("text/event-stream"):
            assert exchange.data.endswith(b"data: [DONE]\n\n") or b'data: {"error"' in exchange.data
        elif exchange.status != 200:
            assert 400 <= exchange.status < 500, exchange
            _error(exchange)
        return
    outcome = _outcome(exchange)
    if len(body) > MAX_BODY:
        assert exchange.status == 413 and _error(exchange)["code"] == "request_too_large"
    elif outcome == "rejected" and exchange.upstream:
        # Only a non-streaming request can be refused after reaching GLM, and the only
        # refusal a translated body may earn there is a `glm-*` id GLM does not know.
        assert _error(exchange)["code"] == "model_not_found", exchange


@_fuzz(150)
@given(body=_codex_bodies)
def test_any_codex_shaped_body_is_translated_into_a_request_glm_accepts(root: Path, body: dict[str, Any]) -> None:
    exchange = _exchange_with_mock(root, _encode(body))
    # The strict mock refuses whatever api.z.ai would; the proxy must never provoke that.
    assert _outcome(exchange) == "completed", exchange.data[-2000:]
    # The turn's request last; before it only descriptions of images a text-only model cannot see.
    *descriptions, turn = exchange.upstream
    assert all(b"Describe this image" in sent and _strict_json(sent)["stream"] is False for sent in descriptions)
    sent = _strict_json(turn)
    assert sent["stream"] is body["stream"]


_top_level = [
    "model",
    "input",
    "stream",
    "tools",
    "tool_choice",
    "instructions",
    "reasoning",
    "text",
    "temperature",
    "top_p",
    "max_output_tokens",
    "include",
    "store",
    "parallel_tool_calls",
]


@_fuzz(60)
@given(field_name=st.sampled_from(_top_level), value=_json, stream=st.booleans())
def test_a_field_of_the_wrong_type_is_refused_or_ignored(root: Path, field_name: str, value: Any, stream: bool) -> None:
    body = cf.body(stream=stream)
    body[field_name] = value
    exchange = _exchange_with_mock(root, _encode(body))
    outcome = _outcome(exchange)
    # Only what the proxy cannot do without may be refused; everything else is repaired.
    required = {"model": str, "input": (str, list), "stream": bool, "tools": (list, type(None))}
    blank_model = field_name == "model" and isinstance(value, str) and not value.strip()
    if blank_model or (field_name in required and not isinstance(value, required[field_name])):
        assert outcome == "rejected" and _error(exchange)["param"] == field_name
    elif field_name == "input" and isinstance(value, list) and not all(isinstance(item, dict) for item in value):
        assert outcome == "rejected" and _error(exchange)["param"].startswith("input[")
    elif (
        field_name == "model"
        and str(value).strip().lower().startswith("glm-")
        and str(value).strip().lower() not in MODELS
    ):
        assert outcome in ("failed", "rejected")  # a GLM id newer than the table goes to GLM to judge
    else:
        assert outcome == "completed", exchange.data[-2000:]


_auth_values = st.one_of(
    st.just(f"Bearer {TOKEN}"),
    st.none(),
    st.sampled_from(
        [
            f"bearer {TOKEN}",
            f"Bearer  {TOKEN}",
            f"Bearer {TOKEN} ",
            TOKEN,
            f"Bearer {TOKEN[:-1]}",
            f"Bearer {TOKEN}x",
            f"Basic {TOKEN}",
            f"Bearer {DEFAULT_KEY}",
            "Bearer ",
        ]
    ),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60),
)
_PORT = 18765
_hosts = st.sampled_from(
    [
        f"127.0.0.1:{_PORT}",
        f"localhost:{_PORT}",
        f"[::1]:{_PORT}",
        f"LocalHost:{_PORT}",
        "127.0.0.1",
        f"127.0.0.1:{_PORT + 1}",
        f"evil.example:{_PORT}",
        f"127.0.0.1.nip.io:{_PORT}",
        "",
        f"0.0.0.0:{_PORT}",
    ]
) | st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30)


async def _guarded(root: Path, method: str, path: str, headers: dict[str, str]) -> tuple[int, bytes, int]:
    script = Script()
    app = create_app(_settings(root), TOKEN, transport=script.transport)
    app.proxy.hosts = allowed_hosts("127.0.0.1", _PORT)
    body = _encode(cf.body()) if method == "POST" else b""
    status, _, data = await _ask(app, method, path, body, headers)
    return status, data, len(script.requests)


@_fuzz(120)
@given(
    auth=_auth_values,
    host=_hosts,
    route=st.sampled_from(
        [
            ("GET", "/v1/models"),
            ("POST", "/v1/responses"),
            ("GET", "/healthz"),
            ("POST", "/v1/chat/completions"),
            ("DELETE", "/v1/models"),
            ("GET", "/nowhere"),
        ]
    ),
)
def test_only_the_exact_token_on_a_loopback_host_gets_through(
    root: Path, auth: str | None, host: str, route: tuple[str, str]
) -> None:
    method, path = route
    headers = {"Host": host} | ({} if auth is None else {"Authorization": auth})
    with _no_internal_errors():
        status, data, upstream = trio.run(_guarded, root, method, path, headers)
    for secret in (TOKEN, DEFAULT_KEY):
        assert secret.encode() not in data
    if host.strip().lower() not in allowed_hosts("127.0.0.1", _PORT):
        expected: int | None = 403
    elif auth != f"Bearer {TOKEN}":
        expected = 401
    else:
        expected = None
    if expected is not None:
        assert (status, upstream) == (expected, 0)
        assert json.loads(data)["error"]["code"] == ("invalid_host" if expected == 403 else "invalid_api_key")
    else:
        assert status in (200, 400, 404, 405)
        if status != 200:
            assert json.loads(data)["error"]["message"]


# --------------------------------------------------------------------------- hostile upstream


_finish_reasons = (
    st.sampled_from(
        [
            "stop",
            "length",
            "tool_calls",
            "sensitive",
            "network_error",
            "model_context_window_exceeded",
            "content_filter",
            "",
        ]
    )
    | _short
)
_usage = (
    st.fixed_dictionaries(
        {},
        optional={
            "prompt_tokens": _numbers,
            "completion_tokens": _numbers,
            "total_tokens": _numbers,
            "prompt_tokens_details": _json,
            "completion_tokens_details": _json,
        },
    )
    | _json
)
_tool_fragment = st.fixed_dictionaries(
    {"index": st.integers(-1, 3) | _json},
    optional={
        "id": st.none() | _call_ids,
        "type": st.just("function"),
        "function": st.fixed_dictionaries(
            {}, optional={"name": st.none() | _names, "arguments": st.none() | _text | _json}
        )
        | _json,
    },
)
_delta = st.fixed_dictionaries(
    {},
    optional={
        "role": st.just("assistant"),
        "content": _text | _json,
        "reasoning_content": _text | _json,
        "tool_calls": st.lists(_tool_fragment, max_size=2) | _json,
    },
)
_choice = st.fixed_dictionaries(
    {"index": st.just(0), "delta": _delta | _json}, optional={"finish_reason": st.none() | _finish_reasons}
)
_glm_chunks = st.one_of(
    st.fixed_dictionaries(
        {"choices": st.lists(_choice, min_size=1, max_size=2)},
        optional={"usage": _usage, "id": _short, "model": _short},
    ),
    st.fixed_dictionaries({"choices": st.just([]), "usage": _usage}),
    st.fixed_dictionaries(
        {
            "error": st.fixed_dictionaries(
                {
                    "code": st.sampled_from(["1305", "1234", "1302", "1308", "1113", "1214", "1301", "500"]) | _json,
                    "message": _text | _json,
                }
            )
            | _json
        }
    ),
    _json.filter(lambda value: isinstance(value, dict)),
)
_frames = st.one_of(
    _glm_chunks.map(lambda chunk: b"data: " + _encode(chunk) + b"\n\n"),
    st.sampled_from(
        [
            b"data: [DONE]\n\n",
            b": keep-alive\n\n",
            b"event: message\n",
            b"data: {broken\n\n",
            b"\r\n",
            b"data:\n\n",
            b"id: 7\nretry: 10\n\n",
            b"data: " + b"x" * 5000 + b"\n\n",
        ]
    ),
    st.binary(max_size=40),
)


def _scripted_stream(frames: list[bytes], cuts: list[int], broken: bool) -> httpx.Response:
    data = b"".join(frames)
    points = sorted({min(cut, len(data)) for cut in cuts} | {0, len(data)})
    pieces = [data[a:b] for a, b in pairwise(points)]

    async def body() -> Any:
        for piece in pieces:
            yield piece
        if broken:
            raise httpx.ReadError("connection reset by peer")

    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())


_replies = st.one_of(
    st.builds(
        _scripted_stream, st.lists(_frames, max_size=12), st.lists(st.integers(0, 4000), max_size=6), st.booleans()
    ),
    st.builds(
        lambda status, body: http_response(status, body),
        st.sampled_from([200, 400, 401, 404, 429, 500, 502, 503]),
        _glm_chunks
        | st.fixed_dictionaries(
            {
                "choices": st.lists(
                    st.fixed_dictionaries(
                        {"index": st.just(0), "message": _delta | _json}, optional={"finish_reason": _finish_reasons}
                    ),
                    max_size=2,
                )
            }
        ),
    ),
    st.builds(
        lambda status, text: http_response(status, text.encode(), {"content-type": "text/html"}),
        st.sampled_from([200, 403, 500, 504]),
        _text,
    ),
    st.builds(lambda text: httpx.ConnectError(text), _short),
)


@_fuzz(150)
@given(replies=st.lists(_replies, min_size=1, max_size=4), stream=st.booleans(), tools=st.booleans())
def test_any_upstream_answer_ends_in_exactly_one_terminal_event(
    root: Path, replies: list[Any], stream: bool, tools: bool
) -> None:
    body = cf.body(stream=stream, tools=None if tools else [])
    exchange = _exchange_with_script(root, _encode(body), Script(*replies))
    if stream:
        assert exchange.status == 200
        _stream(exchange.data)
    elif exchange.status != 200:
        # A non-streaming client gets GLM's failure as an HTTP error, whatever its status.
        _error(exchange)
    else:
        _outcome(exchange)


# --------------------------------------------------------------------------- what the fuzz found


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"model":"glm-5.1","input":[{"type":[]}]}', id="list-item-type"),
        pytest.param(b'{"model":"glm-5.1","input":[{"type":"additional_tools","tools":5}]}', id="int-tools"),
        pytest.param(
            b'{"model":"glm-5.1","input":[{"type":"tool_search_output","call_id":"c","tools":true}]}', id="bool-tools"
        ),
        pytest.param(
            b'{"model":"glm-5.1","input":"hi","tools":[{"type":"namespace","name":"n","tools":7}]}',
            id="namespace-tools",
        ),
        pytest.param(b'{"model":"glm-5.1","input":"\\ud800 hi"}', id="surrogate-in-input"),
        pytest.param(b'{"model":"\\udc80","input":"hi"}', id="surrogate-in-model"),
        pytest.param(b'{"model":"glm-5.1","input":"hi","stream":true,"temperature":NaN}', id="nan"),
        pytest.param(b'{"model":"glm-5.1","input":' + b"[" * 100_000 + b"]" * 100_000 + b"}", id="deep-json"),
        pytest.param(_nested(600, "[", "default"), id="deep-tool-parameters"),
    ],
)
def test_bodies_that_once_crashed_the_proxy_are_answered(root: Path, body: bytes) -> None:
    # Each of these was a 500 (or a body GLM cannot parse) before the fuzz found it.
    exchange = _exchange_with_mock(root, body)
    _outcome(exchange)
    for sent in exchange.upstream:
        _strict_json(sent)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            b'{"model":"glm-5.1","input":"hi","tools":[{"type":"function","name":"f\\ud800"}]}', id="tool-name"
        ),
        pytest.param(
            b'{"model":"glm-5.1","input":[{"type":"custom_tool_call","call_id":"c","name":"a\\udc80"}]}', id="call-name"
        ),
    ],
)
def test_a_lone_surrogate_in_a_tool_name_is_answered(root: Path, body: bytes) -> None:
    _outcome(_exchange_with_mock(root, body))


@pytest.mark.parametrize("host", [".", "a..b", f"..:{_PORT}", "x" * 64])
def test_a_host_werkzeug_cannot_encode_is_refused(root: Path, host: str) -> None:
    status, data, upstream = trio.run(_guarded, root, "GET", "/v1/models", {"Host": host, **AUTH})
    assert (status, upstream) == (403, 0) and json.loads(data)["error"]["code"] == "invalid_host"
