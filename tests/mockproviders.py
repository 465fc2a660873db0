"""Strict stand-ins for the other chat upstreams: one personality per provider.

Each personality is the mock GLM server (same HTTP layer, queue and reply builders) with the
provider's own paths, authentication and error bodies, request checks and wire shape,
modelled on what the provider documents and on recorded traffic (api.md §7, update-2026-12,
the OpenRouter/Groq Kimi cassettes), never on what codexglm sends:

* DeepSeek: in thinking mode a replayed assistant tool-call message without
  `reasoning_content` is a 400 "must be passed back"; cached tokens are
  `prompt_cache_hit_tokens`; errors are OpenAI-shaped with a vague `code`, 402 = balance.
* Kimi: tool-call ids `functions.<name>:<n>` counted over the conversation, continuation
  chunks with `id: null`, usage inside the last choice with `cached_tokens`; tool
  schemas must be `type: object`; K3 takes only `reasoning_effort: "max"`.
* MiniMax: `reasoning_split: true` gives `reasoning_details`, otherwise `<think>` inline;
  the details must come back unmodified; `max_tokens` is refused for
  `max_completion_tokens`; errors are `base_resp.status_code` (1008 = balance).
* Qwen: usage only with `stream_options.include_usage`, on a trailing `choices: []` chunk;
  `enable_thinking` only when streaming; `Arrearage` for an overdue account.
* OpenRouter: `: OPENROUTER PROCESSING` comments, `reasoning` + `reasoning_details`
  (including an encrypted entry) that must come back unmodified, usage with cost on a
  trailing chunk, errors `{"error": {"code": 402, ...}}` and `metadata.provider_name`.

Tests enqueue the same `text_reply`/`tool_reply` values as for the GLM mock; a
personality reshapes them into its own wire format.
"""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from codexglm.providers import get_provider
from codexglm.providers.base import ModelSpec
from tests.mockglm import Chunk, Error, MockGLM, Reply, Stream, _Context, _frame, _stamp, serving, text_reply

PROVIDER_KEY = "prov-test-key-5678"
_PROCESSING = b": OPENROUTER PROCESSING\n\n"


@dataclass(frozen=True)
class Answer(Error):
    """An error answered with the provider's own body (`extra` is the whole body)."""

    def body(self) -> dict[str, Any]:
        return copy.deepcopy(self.extra or {})


def answer(status: int, body: dict[str, Any]) -> Answer:
    """An HTTP error whose body is exactly BODY."""
    return Answer(status, "", "", body)


def openai_error(status: int, message: str, kind: str, code: str | None = None) -> Answer:
    """An OpenAI-shaped error body, as most compatible upstreams send."""
    return answer(status, {"error": {"message": message, "type": kind, "param": None, "code": code}})


@dataclass
class Personality:
    """What one provider does differently from GLM, as data and small functions."""

    name: str
    base_path: str
    auth_error: Callable[[], Error]
    check: Callable[[dict[str, Any], ModelSpec, MockProvider], Error | None]
    reshape: Callable[[list[Chunk], dict[str, Any], MockProvider], list[Chunk | bytes]]
    # The models it serves; None: those of the registered provider of that name.
    table: Mapping[str, ModelSpec] | None = None

    @property
    def models(self) -> Mapping[str, ModelSpec]:
        return self.table if self.table is not None else get_provider(self.name).models


class MockProvider(MockGLM):
    """The mock server with a provider's personality; `url` is its base URL."""

    def __init__(self, personality: Personality, *, keys: set[str] | None = None) -> None:
        super().__init__(keys={key: {"coding", "general"} for key in (keys or {PROVIDER_KEY})})
        self.personality = personality
        # Structured reasoning handed out per tool-call id: it must come back unmodified.
        self.issued_details: dict[str, list[dict[str, Any]]] = {}
        self.tool_calls_issued = 0
        self.cached_reported: list[int] = []

    @property
    def base_url(self) -> str:
        return self.url + self.personality.base_path

    def _route(self, path: str) -> tuple[str, str | None]:
        base = self.personality.base_path
        if path == base + "/chat/completions":
            return "chat", "coding"
        if path == base + "/models":
            return "models", None
        return "missing", None

    def _authorize(self, header: str | None, key: str | None, plan: str | None) -> Error | None:
        return None if key in self.keys else self.personality.auth_error()

    def _models_body(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": spec.id, "object": "model", "owned_by": self.personality.name}
                                           for spec in self.personality.models.values()]}

    def _validate(self, body: Any) -> Error | None:
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
            return openai_error(400, "messages must be a non-empty list", "invalid_request_error")
        wanted = str(body.get("model", "")).lower()
        spec = next((s for s in self.personality.models.values() if s.id.lower() == wanted), None)
        if spec is None:
            return openai_error(404, f"Model Not Exist: {body.get('model')}", "invalid_request_error", "model_not_found")
        if spec.id != body["model"]:
            return openai_error(400, f"unknown model id {body['model']!r}; did you mean {spec.id!r}?", "invalid_request_error")
        for tool in body.get("tools") or []:
            parameters = (tool.get("function") or {}).get("parameters")
            if not isinstance(parameters, dict) or parameters.get("type") != "object":
                return openai_error(400, "tools.function.parameters must be a JSON schema of type object",
                                     "invalid_request_error")
        return self.personality.check(body, spec, self)

    def _prompt_usage(self, key: str | None, body: dict[str, Any]) -> tuple[int, int]:
        prompt, cached = super()._prompt_usage(key, body)
        self.cached_reported.append(cached)
        return prompt, cached

    def _default_reply(self, body: dict[str, Any]) -> Reply:
        return text_reply(f"Hello from the mock {self.personality.name} server.", reasoning="A greeting.")

    def _stream_frames(self, reply: Stream, ctx: _Context, body: dict[str, Any]) -> list[bytes]:
        chunks = [_stamp(chunk, ctx) for chunk in copy.deepcopy(reply.chunks)]
        frames = [c if isinstance(c, bytes) else _frame(c) for c in self.personality.reshape(chunks, body, self)]
        return [*frames, b"data: [DONE]\n\n"] if reply.done else frames

    def _completion_body(self, reply: Stream, ctx: _Context, body: dict[str, Any]) -> dict[str, Any]:
        chunks = [c for c in self.personality.reshape([_stamp(c, ctx) for c in copy.deepcopy(reply.chunks)], body, self)
                  if isinstance(c, dict)]
        return _fold(chunks)


def _fold(chunks: list[Chunk]) -> dict[str, Any]:
    """Stream chunks folded into one non-streaming completion (enough for these tests)."""
    message: dict[str, Any] = {"role": "assistant", "content": ""}
    finish, usage = "stop", None
    for chunk in chunks:
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or []:
            usage = choice.get("usage") or usage
            finish = choice.get("finish_reason") or finish
            delta = choice.get("delta") or {}
            for key, value in delta.items():
                if isinstance(value, str) and key != "role":
                    message[key] = message.get(key, "") + value
                elif key == "reasoning_details":
                    message.setdefault(key, []).extend(value)
                elif key == "tool_calls":
                    for call in value:
                        calls = message.setdefault("tool_calls", [])
                        if call.get("id"):
                            calls.append(copy.deepcopy(call))
                        else:
                            calls[-1]["function"]["arguments"] += (call.get("function") or {}).get("arguments", "")
    return {"id": chunks[0].get("id") if chunks else "", "object": "chat.completion", "choices": [
        {"index": 0, "message": message, "finish_reason": finish}], "usage": usage}


# --------------------------------------------------------------------------- shared reshaping


def _choices(chunk: Chunk) -> list[dict[str, Any]]:
    return chunk.get("choices") or []


def _rename_reasoning(chunks: list[Chunk], convert: Callable[[str], dict[str, Any]]) -> None:
    for chunk in chunks:
        for choice in _choices(chunk):
            delta = choice.get("delta") or {}
            if "reasoning_content" in delta:
                delta.update(convert(delta.pop("reasoning_content")))


def _openai_finish(chunks: list[Chunk], body: dict[str, Any], *, require_option: bool = True) -> list[Chunk]:
    """OpenAI-style ending: an empty finish delta, usage on a trailing `choices: []` chunk,
    and only when the request asked for it with stream_options.include_usage."""
    usage = None
    for chunk in chunks:
        usage = chunk.pop("usage", None) or usage
        for choice in _choices(chunk):
            if choice.get("finish_reason"):
                choice["delta"] = {}
    wanted = (body.get("stream_options") or {}).get("include_usage") is True or not require_option
    if usage is not None and wanted and chunks:
        chunks.append({key: chunks[-1][key] for key in ("id", "object", "created", "model") if key in chunks[-1]}
                      | {"choices": [], "usage": usage})
    return chunks


def _openai_call_id(name: str, number: int) -> str:
    return f"call_{number:02d}_{secrets.token_hex(10)}"


def _new_call_ids(chunks: list[Chunk], mock: MockProvider, *, null_continuations: bool = False,
                  id_for: Callable[[str, int], str] = _openai_call_id) -> list[str]:
    """Give every call a provider-style id (the GLM builders' ids are GLM's); return them."""
    ids: list[str] = []
    for chunk in chunks:
        for choice in _choices(chunk):
            for call in (choice.get("delta") or {}).get("tool_calls") or []:
                name = (call.get("function") or {}).get("name")
                if call.get("id") and name:
                    call["id"] = id_for(name, mock.tool_calls_issued)
                    mock.tool_calls_issued += 1
                    ids.append(call["id"])
                elif null_continuations:
                    call["id"] = None
                    call["type"] = None
    return ids


def _replayed_details_match(body: dict[str, Any], mock: MockProvider, vendor: str) -> Error | None:
    """Structured reasoning the mock issued must come back with its calls, byte for byte."""
    for index, message in enumerate(body["messages"]):
        for call in message.get("tool_calls") or [] if message.get("role") == "assistant" else []:
            issued = mock.issued_details.get(call.get("id"))
            if issued is not None and message.get("reasoning_details") != issued:
                return answer(400, {"error": {"message": f"{vendor}: messages[{index}].reasoning_details must be passed "
                                                         "back unmodified with its tool calls", "code": 400}})
    return None


def _remember_details(chunks: list[Chunk], ids: list[str], mock: MockProvider) -> None:
    details: list[dict[str, Any]] = []
    for chunk in chunks:
        for choice in _choices(chunk):
            for entry in (choice.get("delta") or {}).get("reasoning_details") or []:
                same = next((d for d in details if d.get("index") == entry.get("index") and d["type"] == entry["type"]), None)
                if same is None:
                    details.append(dict(entry))
                else:
                    same["text"] = same.get("text", "") + entry.get("text", "")
    for call_id in ids:
        mock.issued_details[call_id] = details


# --------------------------------------------------------------------------- DeepSeek


def _deepseek_check(body: dict[str, Any], spec: ModelSpec, mock: MockProvider) -> Error | None:
    thinking = (body.get("thinking") or {}).get("type") == "enabled"
    if body.get("reasoning_effort") not in (None, "high", "max"):
        return openai_error(400, "reasoning_effort must be one of high, max", "invalid_request_error", "invalid_request_error")
    for index, message in enumerate(body["messages"]):
        if thinking and message.get("role") == "assistant" and message.get("tool_calls") and "reasoning_content" not in message:
            return openai_error(
                400,
                "The `reasoning_content` in the thinking mode must be passed back to the API. "
                f"Missing `reasoning_content` field in the assistant message at message index {index}",
                "invalid_request_error", "invalid_request_error")
    return None


def _deepseek_reshape(chunks: list[Chunk], body: dict[str, Any], mock: MockProvider) -> list[Chunk | bytes]:
    if (body.get("thinking") or {}).get("type") != "enabled":
        _rename_reasoning(chunks, lambda text: {})  # non-thinking mode: no reasoning at all
    _new_call_ids(chunks, mock)
    for chunk in chunks:
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            cached = usage.pop("prompt_tokens_details", {}).get("cached_tokens", 0)
            usage["prompt_cache_hit_tokens"] = cached
            usage["prompt_cache_miss_tokens"] = usage["prompt_tokens"] - cached
    return list(_openai_finish(chunks, body))


def deepseek_insufficient_balance() -> Answer:
    """DeepSeek's 402 once the prepaid balance is gone (its code says nothing; the status does)."""
    return openai_error(402, "Insufficient Balance", "unknown_error", "invalid_request_error")


DEEPSEEK = Personality(
    "deepseek", "",
    lambda: openai_error(401, "Authentication Fails, Your api key: ****5678 is invalid", "authentication_error",
                          "invalid_request_error"),
    _deepseek_check, _deepseek_reshape,
)

# --------------------------------------------------------------------------- Kimi


def _kimi_check(body: dict[str, Any], spec: ModelSpec, mock: MockProvider) -> Error | None:
    if spec.thinking == "forced" and body.get("reasoning_effort") not in (None, "max"):
        return openai_error(400, f"Invalid request: reasoning_effort {body.get('reasoning_effort')!r} is not supported "
                                  "by this model, only 'max'", "invalid_request_error")
    for index, message in enumerate(body["messages"]):
        if spec.thinking == "forced" and message.get("role") == "assistant" and message.get("tool_calls") \
                and "reasoning_content" not in message:
            return openai_error(400, f"Invalid request: the assistant message at index {index} must keep its "
                                      "reasoning_content with its tool_calls in thinking mode", "invalid_request_error")
    return None


def _kimi_reshape(chunks: list[Chunk], body: dict[str, Any], mock: MockProvider) -> list[Chunk | bytes]:
    _new_call_ids(chunks, mock, null_continuations=True, id_for=lambda name, n: f"functions.{name}:{n}")
    usage = None
    for chunk in chunks:
        usage = chunk.pop("usage", None) or usage
    for chunk in chunks:
        for choice in _choices(chunk):
            if choice.get("finish_reason") and usage is not None:
                cached = usage.pop("prompt_tokens_details", {}).get("cached_tokens", 0)
                choice["delta"] = {}
                choice["usage"] = {**usage, "cached_tokens": cached}
    return list(chunks)


def kimi_code_usage_limit() -> Answer:
    """The Kimi Code plan's 403 when its 5-hour window is used up (api.md §7)."""
    return openai_error(403, "You've reached your 5-hour usage limit for Kimi Code. Please wait for the window to "
                              "reset.", "permission_error")


KIMI = Personality("kimi", "/v1", lambda: openai_error(401, "Invalid Authentication", "invalid_authentication_error"),
                   _kimi_check, _kimi_reshape)

# --------------------------------------------------------------------------- MiniMax


def _minimax_error(status_code: int, message: str, http: int = 200) -> Answer:
    return answer(http, {"id": secrets.token_hex(16), "choices": None,
                         "base_resp": {"status_code": status_code, "status_msg": message}})


def _minimax_check(body: dict[str, Any], spec: ModelSpec, mock: MockProvider) -> Error | None:
    if "max_tokens" in body:
        return _minimax_error(2013, "invalid params, max_tokens is deprecated, use max_completion_tokens")
    if body.get("tool_choice") not in (None, "auto", "none"):
        return _minimax_error(2013, "invalid params, tool_choice only supports none and auto")
    for message in body["messages"]:
        for call in message.get("tool_calls") or []:
            try:
                json.loads(call["function"]["arguments"])
            except (KeyError, ValueError):
                return _minimax_error(2013, "invalid function arguments json string")
    return _replayed_details_match(body, mock, "MiniMax")


def _minimax_reshape(chunks: list[Chunk], body: dict[str, Any], mock: MockProvider) -> list[Chunk | bytes]:
    if body.get("reasoning_split") is True:
        _rename_reasoning(chunks, lambda text: {"reasoning_details": [
            {"type": "reasoning.text", "id": "reasoning-text-1", "format": "MiniMax-response-v1", "index": 0, "text": text}]})
        ids = _new_call_ids(chunks, mock)
        _remember_details(chunks, ids, mock)
        return list(chunks)
    inline_think(chunks)
    _new_call_ids(chunks, mock)
    return list(chunks)


def inline_think(chunks: list[Chunk]) -> None:
    """Reasoning deltas as content: `<think>` opens the thinking, `</think>` ends it."""
    thinking = [c for c in chunks for ch in _choices(c) if "reasoning_content" in (ch.get("delta") or {})]
    _rename_reasoning(chunks, lambda text: {"content": text})
    if thinking:
        thinking[0]["choices"][0]["delta"]["content"] = "<think>" + thinking[0]["choices"][0]["delta"]["content"]
        thinking[-1]["choices"][0]["delta"]["content"] += "</think>\n\n"


def minimax_insufficient_balance() -> Answer:
    """MiniMax's balance error: HTTP 200 with a failed `base_resp` (status 1008)."""
    return _minimax_error(1008, "insufficient balance")


MINIMAX = Personality("minimax", "/v1", lambda: _minimax_error(1004, "login fail: Please carry the API secret key in the "
                                                                     "'Authorization' field of the request header", 401),
                      _minimax_check, _minimax_reshape)

# --------------------------------------------------------------------------- Qwen


def _qwen_error(status: int, code: str, message: str) -> Answer:
    return answer(status, {"error": {"code": code, "param": None, "message": message, "type": code},
                           "request_id": secrets.token_hex(16)})


def _qwen_check(body: dict[str, Any], spec: ModelSpec, mock: MockProvider) -> Error | None:
    if body.get("enable_thinking") is True and body.get("stream") is not True:
        return _qwen_error(400, "invalid_parameter_error",
                           "parameter.enable_thinking must be set to false for non-streaming calls")
    if "thinking" in body or "reasoning_effort" in body:
        return _qwen_error(400, "invalid_parameter_error", "thinking parameters of other vendors are not supported")
    return None


def _qwen_reshape(chunks: list[Chunk], body: dict[str, Any], mock: MockProvider) -> list[Chunk | bytes]:
    if body.get("enable_thinking") is not True:
        _rename_reasoning(chunks, lambda text: {})  # commercial models do not think by default
    _new_call_ids(chunks, mock)
    return list(_openai_finish(chunks, body))


def qwen_arrearage() -> Answer:
    """DashScope's refusal for an account with an overdue payment."""
    return _qwen_error(400, "Arrearage", "Access denied, please make sure your account is in good standing.")


QWEN = Personality("qwen", "/compatible-mode/v1",
                   lambda: _qwen_error(401, "invalid_api_key", "Incorrect API key provided. "),
                   _qwen_check, _qwen_reshape)

# --------------------------------------------------------------------------- OpenRouter


def _openrouter_check(body: dict[str, Any], spec: ModelSpec, mock: MockProvider) -> Error | None:
    reasoning = body.get("reasoning")
    if reasoning is not None and (not isinstance(reasoning, dict) or set(reasoning) - {"effort", "max_tokens", "exclude",
                                                                                      "enabled"}):
        return answer(400, {"error": {"message": "reasoning must be {effort|max_tokens, exclude, enabled}", "code": 400}})
    return _replayed_details_match(body, mock, "OpenRouter")


def _openrouter_reshape(chunks: list[Chunk], body: dict[str, Any], mock: MockProvider) -> list[Chunk | bytes]:
    _rename_reasoning(chunks, lambda text: {"reasoning": text, "reasoning_details": [
        {"type": "reasoning.text", "text": text, "format": "unknown", "index": 0}]})
    thinking = [i for i, c in enumerate(chunks) if any("reasoning" in (ch.get("delta") or {}) for ch in _choices(c))]
    if thinking:
        # An opaque entry right after the reasoning text, as Anthropic and Gemini models give one.
        encrypted = {"type": "reasoning.encrypted", "data": "opaque-" + secrets.token_hex(6), "format": "unknown", "index": 1}
        chunks.insert(thinking[-1] + 1, {**chunks[thinking[-1]], "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": "", "reasoning_details": [encrypted]}}]})
    ids = _new_call_ids(chunks, mock)
    for chunk in chunks:
        chunk["provider"] = "Z.AI"
        for choice in _choices(chunk):
            choice.setdefault("native_finish_reason", choice.get("finish_reason"))
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            usage.update(cost=0.00042, is_byok=False)
            usage.setdefault("prompt_tokens_details", {})["cache_write_tokens"] = 0
    _remember_details(chunks, ids, mock)
    return [_PROCESSING, _PROCESSING, *_openai_finish(chunks, body, require_option=False)]


def openrouter_no_credits() -> Answer:
    """OpenRouter's 402 when the credits (or the key's limit) are used up."""
    return answer(402, {"error": {"message": "Insufficient credits. Add more using https://openrouter.ai/settings/credits",
                                  "code": 402}, "user_id": "user_2zMGmKqlf4zmAvL9snVI"})


def openrouter_upstream_rate_limited() -> Answer:
    """OpenRouter relaying an upstream's 429, naming it in `metadata` (recorded cassettes)."""
    return answer(429, {"error": {"message": "Provider returned error", "code": 429, "metadata": {
        "raw": "z-ai/glm-5.3 is temporarily rate-limited upstream. Please retry shortly.", "provider_name": "Z.AI"}},
        "user_id": "user_2zMGmKqlf4zmAvL9snVI"})


OPENROUTER = Personality("openrouter", "/api/v1", lambda: answer(401, {"error": {"message": "User not found.", "code": 401}}),
                         _openrouter_check, _openrouter_reshape)

PERSONALITIES: dict[str, Personality] = {p.name: p for p in (DEEPSEEK, KIMI, MINIMAX, QWEN, OPENROUTER)}


@asynccontextmanager
async def open_mock_provider(personality: str | Personality, *, keys: set[str] | None = None) -> AsyncIterator[MockProvider]:
    """Run the mock of a provider (by name, or any personality) on 127.0.0.1 for the block."""
    chosen = PERSONALITIES[personality] if isinstance(personality, str) else personality
    async with serving(MockProvider(chosen, keys=keys)) as mock:
        yield mock
