"""Hostile HTTP against the real proxy (`serve()` on a loopback socket): raw bytes matter here.

The proxy runs in a thread of its own (its own trio loop) so that each test can speak
plain blocking sockets to it, byte for byte, and hypothesis can drive it from ordinary
synchronous examples.  Every socket read is bounded by a timeout.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomlkit
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trio.testing import MockClock

from codexglm.server import create_app, serve
from codexglm.server.hosting import SHUTDOWN_BOUND
from codexglm.server.reqlog import log_path
from codexglm.server.upstream import RETRY_AFTER_CAP, _retry_after
from codexglm.settings import Settings
from tests.mockglm import DEFAULT_KEY, MockGLM, open_mock_glm, text_reply
from tests.server_support import AUTH, TOKEN, Script, codex_body, glm_error, make_settings, stoppable_proxy

READ_TIMEOUT = 5.0


class LiveProxy:
    """serve() running in a background thread; `port` is its loopback port."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = 0
        self._ready = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._scope: trio.CancelScope | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # noqa: BLE001 - the test thread reports it
            self.error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        with trio.CancelScope() as self._scope:
            async with trio.open_nursery() as nursery:
                self.port = (await nursery.start(self._serve))[1]
                self._ready.set()

    async def _serve(self, task_status: trio.TaskStatus[tuple[str, int]]) -> None:
        await serve(self.settings, TOKEN, task_status=task_status)

    def start(self) -> None:
        self._thread.start()
        assert self._ready.wait(10) and self.port, self.error

    def stop(self) -> None:
        if self._token is not None and self._scope is not None and self._thread.is_alive():
            self._token.run_sync_soon(self._scope.cancel)
        self._thread.join(15)
        assert not self._thread.is_alive(), "serve() did not stop"

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


@contextmanager
def live_proxy(tmp_path: Path, **overrides: Any) -> Iterator[LiveProxy]:
    proxy = LiveProxy(make_settings(tmp_path, **overrides))
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
    assert proxy.error is None, proxy.error


def exchange(port: int, data: bytes, *, timeout: float = READ_TIMEOUT) -> tuple[bytes, bool]:
    """Send raw bytes; read until the proxy closes or goes quiet.  (answer, closed by proxy)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        try:
            conn.sendall(data)
        except OSError:
            pass  # the proxy may close before reading everything
        return _read_all(conn, timeout)


def _read_all(conn: socket.socket, timeout: float) -> tuple[bytes, bool]:
    conn.settimeout(timeout)
    answer = b""
    try:
        while chunk := conn.recv(65536):
            answer += chunk
    except TimeoutError:
        return answer, False
    except ConnectionResetError:
        pass
    return answer, True


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def statuses(answer: bytes) -> list[int]:
    return [int(line.split(b" ", 2)[1]) for line in answer.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]


def body_of(answer: bytes) -> dict[str, Any]:
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])


def request(port: int, method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    """One HTTP/1.1 request, as bytes; Host and the token are the proxy's unless overridden."""
    fields = {"Host": f"127.0.0.1:{port}", "Authorization": f"Bearer {TOKEN}", **(headers or {})}
    if body and "Content-Length" not in fields and "Transfer-Encoding" not in fields:
        fields["Content-Length"] = str(len(body))
    head = "".join(f"{name}: {value}\r\n" for name, value in fields.items() if value is not None)
    return f"{method} {target} HTTP/1.1\r\n{head}\r\n".encode() + body


def assert_healthy(proxy: LiveProxy) -> None:
    assert proxy.alive, proxy.error
    answer, _ = exchange(proxy.port, request(proxy.port, "GET", "/healthz", {"Connection": "close"}))
    assert status_of(answer) == 200, answer


# --------------------------------------------------------------------------- malformed HTTP


def test_invalid_chunk_sizes_are_answered_400_and_the_proxy_keeps_running(tmp_path: Path) -> None:
    # A close racing the 400 for a bad chunk used to raise BusyResourceError out of the
    # connection handler, which ended the whole server within a few dozen requests.
    attack = b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
    with live_proxy(tmp_path) as proxy:
        for _ in range(80):
            answer, closed = exchange(proxy.port, attack)
            assert status_of(answer) == 400 and closed, answer
        assert_healthy(proxy)


_HTTPISH = st.sampled_from(
    [
        b"GET / HTTP/1.1\r\n",
        b"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Content-Length: 5\r\n",
        b"Content-Length: -1\r\n",
        b"Upgrade: websocket\r\nConnection: Upgrade\r\n",
        b"Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"\r\n",
        b"zz\r\n",
        b"0\r\n\r\n",
        b"\x00\xff",
    ]
)
_RAW = st.lists(st.one_of(_HTTPISH, st.binary(max_size=40)), max_size=8).map(b"".join)


@pytest.fixture(scope="module")
def fuzzed_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveProxy]:
    with live_proxy(tmp_path_factory.mktemp("fuzz")) as proxy:
        yield proxy


@settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=_RAW)
def test_arbitrary_bytes_never_stop_the_proxy(fuzzed_proxy: LiveProxy, data: bytes) -> None:
    answer, _ = exchange(fuzzed_proxy.port, data, timeout=0.3)
    # (`PRI * HTTP/2.0` gets HTTP/2 frames back: hypercorn speaks h2c on prior knowledge.)
    assert all(status < 500 for status in statuses(answer)), answer
    assert_healthy(fuzzed_proxy)


# --------------------------------------------------------------------------- smuggling and guards


def test_content_length_with_transfer_encoding_is_refused_and_the_connection_closed(tmp_path: Path) -> None:
    with live_proxy(tmp_path) as proxy:
        smuggled = request(proxy.port, "GET", "/healthz")
        attack = request(
            proxy.port, "POST", "/v1/responses", {"Content-Length": "5", "Transfer-Encoding": "chunked"}, b"0\r\n\r\n"
        )
        answer, closed = exchange(proxy.port, attack + smuggled)
        assert statuses(answer) == [400] and closed, answer
        assert body_of(answer)["error"]["code"] == "invalid_framing"
        assert_healthy(proxy)


@pytest.mark.parametrize("target", ["http://evil.example/v1/models", "http://evil.example:80/v1/responses"])
def test_absolute_form_target_authority_is_checked_by_the_host_guard(tmp_path: Path, target: str) -> None:
    with live_proxy(tmp_path) as proxy:
        method, body = ("POST", b"{}") if target.endswith("responses") else ("GET", b"")
        answer, _ = exchange(proxy.port, request(proxy.port, method, target, {"Connection": "close"}, body))
        assert status_of(answer) == 403, answer
        assert body_of(answer)["error"]["code"] == "invalid_host"
        own = f"http://127.0.0.1:{proxy.port}/v1/models"
        answer, _ = exchange(proxy.port, request(proxy.port, "GET", own, {"Connection": "close"}))
        assert status_of(answer) == 200, answer


_UPGRADE = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
}


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/v1/responses", {"Host": "evil.example"}, 403),
        ("/v1/responses", {"Authorization": None}, 401),
        ("/v1/responses", {}, 400),
        ("/nowhere", {}, 400),
        ("/healthz", {"Authorization": "Bearer wrong"}, 401),
    ],
)
def test_websocket_upgrade_is_guarded_and_refused(tmp_path: Path, path: str, headers: dict, status: int) -> None:
    with live_proxy(tmp_path) as proxy:
        answer, _ = exchange(proxy.port, request(proxy.port, "GET", path, {**_UPGRADE, **headers}))
        assert statuses(answer) == [status], answer
        assert "error" in json.loads(_dechunk(answer.split(b"\r\n\r\n", 1)[1]))
        assert_healthy(proxy)


def _dechunk(data: bytes) -> bytes:
    body = b""
    while data:
        size, _, rest = data.partition(b"\r\n")
        if not int(size, 16):
            return body
        body, data = body + rest[: int(size, 16)], rest[int(size, 16) + 2 :]
    return body


def test_a_401_names_the_bearer_scheme(tmp_path: Path) -> None:
    with live_proxy(tmp_path) as proxy:
        anonymous = request(proxy.port, "GET", "/v1/models", {"Authorization": None, "Connection": "close"})
        answer, _ = exchange(proxy.port, anonymous)
        assert status_of(answer) == 401
        assert b'\r\nwww-authenticate: Bearer realm="codexglm"\r\n' in answer


# --------------------------------------------------------------------------- stuck clients


def _mock_settings(mock: MockGLM, tmp_path: Path, **overrides: Any) -> Settings:
    base = Settings(
        api_keys=(DEFAULT_KEY,), coding_base_url=mock.coding_url, log_dir=str(tmp_path / "logs"), read_timeout=30.0
    )
    return base.replace(**overrides)


async def _stuck_client(port: int) -> trio.socket.SocketType:
    """A client that asks for a long stream and never reads it (nor closes)."""
    sock = trio.socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)  # set before connect: fixes the window
    await sock.connect(("127.0.0.1", port))
    body = json.dumps(codex_body()).encode()
    data = request(port, "POST", "/v1/responses", {"Content-Type": "application/json"}, body)
    while data:
        data = data[await sock.send(data) :]
    return sock


async def _upstream_in_use(port: int) -> int:
    # A fresh connection each time: the stuck client's must stay the only long-lived one.
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=5) as client:
        return (await client.get("/healthz")).json()["upstream"]["in_use"]


async def _wait_in_use(port: int, value: int) -> None:
    while await _upstream_in_use(port) != value:
        await trio.sleep(0.05)


def _long_answer(mock: MockGLM) -> None:
    mock.enqueue(text_reply("word " * 100_000, chunk_size=8))  # megabytes of SSE: far beyond any socket buffer


async def test_a_client_that_stops_reading_is_dropped_and_its_upstream_request_cancelled(tmp_path: Path) -> None:
    async with open_mock_glm() as mock:
        _long_answer(mock)
        settings = _mock_settings(mock, tmp_path, send_timeout=0.5)
        async with trio.open_nursery() as nursery:
            _, port = await nursery.start(lambda task_status: serve(settings, TOKEN, task_status=task_status))
            sock = await _stuck_client(port)
            try:
                with trio.fail_after(10):
                    await _wait_in_use(port, 1)
                    await _wait_in_use(port, 0)  # used to stay 1 for as long as the client stayed
            finally:
                sock.close()  # (first: without the fix, shutdown would wait for this client)
                nursery.cancel_scope.cancel()
    record = json.loads(log_path(settings).read_text().splitlines()[-1])
    assert record["outcome"] == "disconnected" and record["stream"] is True


async def test_shutdown_keeps_its_bound_while_a_client_has_stopped_reading(tmp_path: Path) -> None:
    async with open_mock_glm() as mock:
        _long_answer(mock)
        settings = _mock_settings(mock, tmp_path)  # the default send timeout: a minute
        async with stoppable_proxy(settings) as proxy:
            sock = await _stuck_client(proxy.port)
            try:
                with trio.fail_after(10):
                    await _wait_in_use(proxy.port, 1)
                await trio.sleep(0.5)  # the proxy's writes to it are blocked by now
                proxy.scope.cancel()
                with trio.fail_after(SHUTDOWN_BOUND + 1):
                    await proxy.stopped.wait()  # used to wait for the client to leave
            finally:
                sock.close()


# --------------------------------------------------------------------------- upstream faults


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 7 ", 7.0),
        ("9" * 5000, RETRY_AFTER_CAP),
        ("Fri, 31 Dec 9999 23:59:59 GMT", RETRY_AFTER_CAP),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("inf", None),
        ("1e400", None),
        ("-5", None),
        ("NaN", None),
        ("+3", None),
        ("1_0", None),
        ("Wed, 21 Oct 99999 07:28:00 GMT", None),
    ],
)
def test_retry_after_is_parsed_as_rfc_9110_defines_it_and_bounded(header: str, seconds: float | None) -> None:
    assert _retry_after(header) == seconds


@pytest.mark.parametrize("header", ["inf", "1e400", "-1e400", "NaN", "99999999999999999999999"])
async def test_absurd_retry_after_from_glm_is_never_a_500(
    tmp_path: Path, autojump_clock: MockClock, header: str
) -> None:
    script = Script(*(glm_error(429, "1302", "Rate limit reached", {"Retry-After": header}) for _ in range(4)))
    app = create_app(make_settings(tmp_path), TOKEN, transport=script.transport)
    async with app.test_app() as test_app:
        response = await test_app.test_client().post("/v1/responses", json=codex_body(stream=False), headers=AUTH)
    assert response.status_code == 429
    assert 0 <= int(response.headers["Retry-After"]) <= RETRY_AFTER_CAP


# --------------------------------------------------------------------------- hostile bodies


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        (b'{"model":"glm-5.1","temperature":1e999,"input":"hi"}', "temperature"),
        (b'{"model":"glm-5.1","input":[{"role":"user","content":-1e999}]}', "input[0].content"),
        (b'{"model":"glm-5.1","input":"\\ud800 lone"}', "input"),
        (b'{"model":"glm-5.1","input":[{"role":"user","content":"\\udfff"}]}', "input[0].content"),
        (b'{"model":"glm-5.1","metadata":{"\\ud800":1},"input":"hi"}', "metadata"),
        # The UTF-8 form of a surrogate: json decodes bytes with "surrogatepass".
        (b'{"model":"glm-5.1","input":"\xed\xa0\x80 raw"}', "input"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/responses", "/v1/chat/completions"])
async def test_unsendable_json_is_refused_naming_the_field(tmp_path: Path, raw: bytes, param: str, path: str) -> None:
    if path.endswith("completions"):
        raw = raw.replace(b'"input"', b'"messages"')
        param = param.replace("input", "messages")
    script = Script()
    app = create_app(make_settings(tmp_path), TOKEN, transport=script.transport)
    async with app.test_app() as test_app:
        headers = {**AUTH, "Content-Type": "application/json"}
        response = await test_app.test_client().post(path, data=raw, headers=headers)
        error = (await response.get_json())["error"]
    assert response.status_code == 400, error
    assert error["param"] == param and param in error["message"] and error["code"] == "invalid_json"
    assert script.requests == []


# --------------------------------------------------------------------------- local files

_WRITER = """
import sys
from pathlib import Path
from codexglm.config import set_value
for i in range(int(sys.argv[3])):
    set_value(Path(sys.argv[1]), f"model_map.{sys.argv[2]}-{i}", "glm-5.1")
"""


def test_concurrent_config_writers_lose_no_write(tmp_path: Path) -> None:
    path, writers, writes = tmp_path / "config.toml", 3, 15
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), f"w{n}", str(writes)]) for n in range(writers)
    ]
    assert [proc.wait(timeout=60) for proc in procs] == [0] * writers
    mapping = dict(tomlkit.parse(path.read_text())["model_map"])
    assert sorted(mapping) == sorted(f"w{n}-{i}" for n in range(writers) for i in range(writes))


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_logs_on_a_full_disk_never_break_serving_and_show_in_healthz(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    for name in ("requests.jsonl", "server.log"):
        (logs / name).symlink_to("/dev/full")
    with live_proxy(tmp_path) as proxy:  # (stopping it used to raise ENOSPC out of serve())
        for _ in range(3):
            answer, _ = exchange(proxy.port, request(proxy.port, "GET", "/v1/models", {"Connection": "close"}))
            assert status_of(answer) == 200, answer
        answer, _ = exchange(proxy.port, request(proxy.port, "GET", "/healthz", {"Connection": "close"}))
        health = body_of(answer)
    for name, log in (("requests.jsonl", health["request_log"]), ("server.log", health["server_log"])):
        assert log["path"] == str(logs / name) and "No space left" in log["error"], health
    # logging's default handleError prints a traceback: the user's terminal in launcher mode.
    assert capfd.readouterr().err == ""


def test_the_cheap_pre_check_misses_no_lone_surrogate_and_refuses_no_pair() -> None:
    from codexglm.server.app import ApiError, _parse_body

    utf16 = '{"input": "\ud800"}'.encode("utf-16", "surrogatepass")
    with pytest.raises(ApiError) as refused:
        _parse_body(utf16)
    assert refused.value.body["error"]["param"] == "input"
    assert _parse_body(b'{"input": "\\ud83d\\ude00"}') == {"input": "\U0001f600"}
