"""Helpers shared by the server tests (this module holds no tests itself)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import trio

from codexglm.providers.glm.endpoints import QUOTA_PATH
from codexglm.server import serve
from codexglm.settings import Settings
from tests.mockglm import DEFAULT_KEY, MockGLM, text_reply

KEY = "zai-test-key-0001-abcdef"
KEY2 = "zai-test-key-0002-ghijkl"
TOKEN = "proxy-token-for-tests-0123"
CODING = "http://glm.test/api/coding/paas/v4"
GENERAL = "http://glm.test/api/paas/v4"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    base = Settings(
        api_keys=(KEY,),
        coding_base_url=CODING,
        base_url=GENERAL,
        log_dir=str(tmp_path / "logs"),
        keepalive_interval=10.0,
    )
    return base.replace(**overrides)


def mock_settings(mock: MockGLM, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a proxy in front of the mock GLM server on a real socket."""
    settings = Settings(
        api_keys=(DEFAULT_KEY,),
        coding_base_url=mock.coding_url,
        base_url=mock.general_url,
        log_dir=str(tmp_path / "logs"),
        connect_timeout=5.0,
        read_timeout=30.0,
    )
    return settings.replace(**overrides)


def codex_body(text: str = "Say hi.", *, stream: bool = True, model: str = "glm-5.1") -> dict[str, Any]:
    """A minimal Codex-shaped Responses request."""
    return {
        "model": model,
        "stream": stream,
        "store": False,
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Be brief."}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
        ],
        "tools": [],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "reasoning": {"summary": "auto"},
        "include": ["reasoning.encrypted_content"],
    }


def sse_events(data: bytes) -> list[dict[str, Any]]:
    """The JSON payloads of an SSE body (comments and event: lines skipped)."""
    events = []
    for block in data.decode().split("\n\n"):
        lines = [line[len("data: ") :] for line in block.split("\n") if line.startswith("data: ")]
        if lines and lines != ["[DONE]"]:
            events.append(json.loads("\n".join(lines)))
    return events


def types(events: Sequence[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def glm_frames(chunks: Sequence[dict[str, Any]], *, done: bool = True) -> list[bytes]:
    frames = [b"data: " + json.dumps(chunk).encode() + b"\n\n" for chunk in chunks]
    return frames + ([b"data: [DONE]\n\n"] if done else [])


def glm_stream(text: str = "Hello there.", *, reasoning: str | None = None) -> list[bytes]:
    """SSE frames of a plain answer, as GLM streams it."""
    return glm_frames(text_reply(text, reasoning=reasoning).chunks)


def http_response(status: int, body: bytes | dict, headers: dict[str, str] | None = None) -> httpx.Response:
    """A response whose body is still to be read, like one off the network."""
    if isinstance(body, dict):
        body = json.dumps(body).encode()
        headers = {"content-type": "application/json", **(headers or {})}
    return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body))


def glm_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return http_response(status, {"error": {"code": code, "message": message}}, headers)


def sse_response(frames: Sequence[bytes], *, delay: float = 0.0, gap: float = 0.0) -> httpx.Response:
    """A streamed 200 whose frames arrive after `delay`, `gap` apart (trio time)."""

    async def body() -> AsyncIterator[bytes]:
        await trio.sleep(delay)
        for i, frame in enumerate(frames):
            if i and gap:
                await trio.sleep(gap)
            yield frame

    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())


Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class Script:
    """An httpx transport answering upstream requests with queued replies, in order."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []
        self.transport = httpx.MockTransport(self._handle)

    def add(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    @property
    def keys(self) -> list[str]:
        return [r.headers["authorization"].removeprefix("Bearer ") for r in self.requests]

    @property
    def urls(self) -> list[str]:
        return [str(r.url) for r in self.requests]

    def body(self, index: int = -1) -> dict[str, Any]:
        return json.loads(self.requests[index].content)

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == QUOTA_PATH:
            # The proxy's background usage poll is not part of any script.
            return httpx.Response(404, json={"error": {"code": "404", "message": "Not Found"}})
        self.requests.append(request)
        if not self.replies:
            return sse_response(glm_stream())
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            return reply(request)
        return reply


class StoppableProxy:
    """serve() on a loopback port that a test stops itself (`scope.cancel()`) and watches stop."""

    def __init__(self) -> None:
        self.scope = trio.CancelScope()
        self.stopped = trio.Event()
        self.port = 0


@asynccontextmanager
async def stoppable_proxy(settings: Settings, token: str = TOKEN) -> AsyncIterator[StoppableProxy]:
    proxy = StoppableProxy()

    async def run(task_status: trio.TaskStatus[tuple[str, int]]) -> None:
        with proxy.scope:
            await serve(settings, token, task_status=task_status)
        proxy.stopped.set()

    async with trio.open_nursery() as nursery:
        _, proxy.port = await nursery.start(run)
        yield proxy


@asynccontextmanager
async def running_proxy(settings: Settings, token: str = TOKEN, **kwargs: Any) -> AsyncIterator[str]:
    """serve() on a free loopback port for the block; yields its base URL."""
    async with trio.open_nursery() as nursery:
        host, port = await nursery.start(lambda task_status: serve(settings, token, task_status=task_status, **kwargs))
        try:
            yield f"http://{f'[{host}]' if ':' in host else host}:{port}"
        finally:
            nursery.cancel_scope.cancel()
