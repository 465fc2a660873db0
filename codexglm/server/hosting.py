"""serve(): the proxy on hypercorn, until cancelled, with a bounded graceful shutdown.

Cancelling `serve()` (the CLI does so on SIGTERM/SIGINT) does not cut streams off: the
server runs in a shielded scope, in-flight streams are told to end with a terminal
`response.failed` ("proxy shutting down"), hypercorn stops accepting and waits for them
for `GRACEFUL_TIMEOUT`, and a hard deadline bounds the whole shutdown.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import hypercorn.trio
import hypercorn.trio.run
import trio
from hypercorn.config import Config
from hypercorn.events import Closed, Event, RawData
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import TrioSingleTask
from hypercorn.typing import TaskGroup

from ..ledger.writer import Ledger
from ..settings import Settings
from ..team.endpoints import SharedEndpoints
from ..team.gate import Gate
from .app import allowed_hosts, create_app
from .proxy import log
from .reqlog import SERVER_LOG_NAME, ServerLog, log_dir
from .shared import SharedState
from .streaming import CONNECTION
from .upstream import Upstream

GRACEFUL_TIMEOUT = 2.0
# Hard bound on shutdown: graceful period, then lifespan shutdown and closing the client.
SHUTDOWN_BOUND = GRACEFUL_TIMEOUT + 3.0


async def serve(
    settings: Settings,
    token: str,
    *,
    sock: socket.socket | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    ledger: Ledger | None = None,
    gate: Gate | None = None,
    admin_token: str | None = None,
    shared: SharedState | None = None,
    worker: int | None = None,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the proxy until cancelled; `task_status.started((host, port))` once listening.
    LEDGER records usage (the launcher passes its own, to read this run's tally); GATE
    makes it a team gateway (member keys, limits, the admin surface under ADMIN_TOKEN).
    SHARED and WORKER: this is worker WORKER of `serve --workers`, sharing key cool-downs
    and the plan's usage windows with the others."""
    listener = sock if sock is not None else bind(host, port)
    try:
        bound_host, bound_port = listener.getsockname()[:2]
        app = create_app(settings, token, ledger=ledger, gate=gate, admin_token=admin_token)
        app.proxy.hosts = allowed_hosts(bound_host, bound_port)
        app.proxy.worker = worker
        if shared is not None:
            for route in app.proxy.routes.values():
                route.upstream.keys.share(shared)
            app.proxy.quota.share(shared)
        handler = _server_log_handler(settings)
        app.proxy.server_log = handler if isinstance(handler, ServerLog) else None
        config = _ProxyConfig(settings.send_timeout)
        # hypercorn listens again on the socket it is given, with its default queue of 100:
        # a burst of new Codex sessions (or workers sharing the one queue) needs the kernel's.
        config.backlog = socket.SOMAXCONN
        config.accesslog = None
        config.errorlog = log
        config.graceful_timeout = GRACEFUL_TIMEOUT
        config.include_server_header = False
        stop = trio.Event()
        listening = _Listening()
        server_scope = trio.CancelScope(shield=True)

        async def _run() -> None:
            # hypercorn owns (and closes) a duplicate; the caller's socket stays theirs.
            config.bind = [f"fd://{os.dup(listener.fileno())}"]
            with server_scope:
                await hypercorn.trio.serve(app, config, shutdown_trigger=stop.wait, task_status=listening)

        quota_scope = trio.CancelScope()
        endpoints = _shared_endpoints(app.proxy.upstream, gate)

        async def _poll_quota() -> None:
            # With a gateway's lease writer: background work that ends when serving does.
            with quota_scope:
                async with trio.open_nursery() as background:
                    background.start_soon(app.proxy.quota.run)
                    if gate is not None:
                        background.start_soon(gate.run)
                    if endpoints is not None:
                        background.start_soon(endpoints.run)

        log.addHandler(handler)
        propagate, log.propagate = log.propagate, False
        log.setLevel(logging.INFO)
        try:
            async with trio.open_nursery() as nursery:
                # Not nursery.start(): the shielded server must not make a cancellation
                # that arrives during start-up wait for it.
                nursery.start_soon(_run)
                nursery.start_soon(_poll_quota)
                try:
                    await listening.event.wait()
                    task_status.started((bound_host, bound_port))
                    await trio.sleep_forever()
                finally:
                    # Cancelled (or failed): end streams cleanly, stop accepting, and bound it all.
                    app.proxy.lifecycle.stop()
                    quota_scope.cancel()
                    stop.set()
                    # A client that stopped reading must not hold the shutdown past its bound.
                    config.writes.close_by(trio.current_time() + GRACEFUL_TIMEOUT)
                    if listening.event.is_set():
                        server_scope.deadline = trio.current_time() + SHUTDOWN_BOUND
                    else:
                        server_scope.cancel()  # nothing in flight yet
        finally:
            log.propagate = propagate
            log.removeHandler(handler)
            handler.close()
    finally:
        if sock is None:
            listener.close()


async def serve_until_signal(serving: Callable[..., Awaitable[object]], announce: Callable[[str, int], None]) -> None:
    """Run SERVING (`serve` with its arguments) until SIGINT, SIGTERM or SIGHUP; ANNOUNCE
    the address once it listens."""
    async with trio.open_nursery() as nursery:
        announce(*await nursery.start(serving))
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
            async for _ in signals:
                nursery.cancel_scope.cancel()
                break


class _Writes:
    """The client writes in progress, each with a deadline that shutdown can bring forward."""

    def __init__(self) -> None:
        self._scopes: set[trio.CancelScope] = set()
        self._close_by = math.inf

    def open(self, timeout: float) -> trio.CancelScope:
        """A shielded scope (a write cut in the middle would corrupt the stream) with a
        deadline; `done` it after use.  A plain scope, not a context manager: it is made
        for every write."""
        scope = trio.CancelScope(shield=True, deadline=min(trio.current_time() + timeout, self._close_by))
        self._scopes.add(scope)
        return scope

    def done(self, scope: trio.CancelScope) -> None:
        self._scopes.discard(scope)

    def close_by(self, deadline: float) -> None:
        """No write, open or to come, may last past `deadline`."""
        self._close_by = min(self._close_by, deadline)
        for scope in self._scopes:
            scope.deadline = min(scope.deadline, deadline)


class _ProxyConfig(Config):
    """hypercorn's Config plus what `_ConnectionServer` needs; every connection shares it."""

    def __init__(self, send_timeout: float) -> None:
        super().__init__()
        self.send_timeout = send_timeout
        self.writes = _Writes()


class _IdleTimer(TrioSingleTask):
    """hypercorn's keep-alive timer of a connection, stopped when a request arrives and
    restarted when its answer ends, without trips through the scheduler: hypercorn's takes
    a lock for each (a checkpoint on the way to the app) and waits for the new timer task
    to start.  Neither method awaits anything here, so the two cannot interleave."""

    async def restart(self, task_group: TaskGroup, action: Callable[[], Awaitable[None]]) -> None:
        await self.stop()
        self._handle = scope = trio.CancelScope()
        task_group.spawn(_within, scope, action)

    async def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


async def _within(scope: trio.CancelScope, action: Callable[[], Awaitable[None]]) -> None:
    with scope:
        await action()


class _ConnectionServer(TCPServer):
    """Hypercorn's per-connection server, made safe against a racing close and stuck clients.

    `SocketStream.send_eof()` checkpoints inside the stream's send-conflict detector, and
    hypercorn calls it without its send lock.  When the app's answer finishes while the
    reader is still writing the 400 for a malformed request (an invalid chunk size, say),
    that write raises BusyResourceError; trio.serve_listeners runs every connection in one
    nursery, so the error ended the whole server.  Closing under the send lock removes the
    race; a connection that still fails is logged and dropped, never the server.

    hypercorn writes each chunk in a shielded scope with no deadline, so a client that
    stops reading (and never closes) held its stream, its upstream request and shutdown
    forever.  Each write now has a deadline (`send_timeout`, or shutdown's); past it the
    connection is closed and the app told, which cancels the upstream request.
    """

    _held: list[bytes] | None = None  # writes gathered for one write (see `hold`)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.idle_task = _IdleTimer()

    def hold(self) -> None:
        """Gather writes until `release` (an app's ASGI sends; see streaming.CONNECTION)."""
        if self._held is None:
            self._held = []

    async def release(self) -> None:
        """Write what was gathered since `hold`, in one piece."""
        held, self._held = self._held, None
        if held:
            await self.protocol_send(RawData(b"".join(held)))

    async def protocol_send(self, event: Event) -> None:
        if isinstance(event, RawData) and self._held is not None:
            self._held.append(event.data)
            return
        if not isinstance(event, RawData):
            # What the app said goes out before hypercorn acts on the connection's state:
            # after `Updated(idle)` a shutdown may close it at once.
            await self.release()
            await super().protocol_send(event)
            return
        config = self.config
        assert isinstance(config, _ProxyConfig)
        # Free, the lock is taken without a trip through the scheduler (`async with` makes one).
        try:
            self.send_lock.acquire_nowait()
        except trio.WouldBlock:
            await self.send_lock.acquire()
        scope = config.writes.open(config.send_timeout)
        try:
            with scope:
                await self.stream.send_all(event.data)
            if scope.cancelled_caught:
                await self._drop_stuck_client()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            await self.protocol.handle(Closed())
        finally:
            config.writes.done(scope)
            self.send_lock.release()

    async def _drop_stuck_client(self) -> None:
        log.warning("a client stopped reading (send timeout or shutdown); connection dropped")
        with trio.CancelScope(shield=True):  # the close must finish even during shutdown
            await self.stream.aclose()
            await self.protocol.handle(Closed())

    async def run(self) -> None:
        CONNECTION.set(self)  # the app tasks hypercorn starts for this connection inherit it
        try:
            await super().run()
        except Exception:
            log.exception("connection handler failed; connection dropped")

    async def _close(self) -> None:
        if self.send_lock.statistics().owner is trio.lowlevel.current_task():
            await super()._close()  # closing from within a failed send
            return
        async with self.send_lock:
            await super()._close()


# hypercorn.trio.serve builds its connection handlers from this module attribute; there is
# no other hook for them.
hypercorn.trio.run.TCPServer = _ConnectionServer  # type: ignore[attr-defined]


class _Listening:
    """The task_status hypercorn reports to once its sockets accept connections."""

    def __init__(self) -> None:
        self.event = trio.Event()

    def started(self, value: object = None) -> None:
        self.event.set()


def _shared_endpoints(upstream: Upstream, gate: Gate | None) -> SharedEndpoints | None:
    """A team gateway in auto mode shares what its instances learn about each key's endpoint
    through the team database; installed before the first request."""
    if gate is None or upstream.settings.endpoint_mode != "auto":
        return None
    shared = SharedEndpoints(gate.store, upstream.settings.api_keys, [label for label, _ in upstream.endpoints])
    upstream.endpoint_of = shared
    return shared


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on HOST:PORT (raises OSError, e.g. when the port is in use)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(socket.SOMAXCONN)
    except OSError:
        listener.close()
        raise
    return listener


def _server_log_handler(settings: Settings) -> logging.Handler:
    """server.log beside the request log (rotated like it), or nowhere when logging is off.

    The proxy shares its terminal with Codex's TUI, so nothing may go to stderr."""
    if not settings.log_requests:
        return logging.NullHandler()
    directory = log_dir(settings)
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        handler: logging.Handler = ServerLog(
            directory / SERVER_LOG_NAME, max_bytes=settings.log_max_bytes, backups=settings.log_backups
        )
    except OSError:
        return logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    return handler
