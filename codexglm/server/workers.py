"""`codexglm serve --workers N`: N proxy processes on one port, supervised by the first.

The supervisor (the `codexglm serve` process) binds the port; each worker is a fresh
Python running `main()` below that inherits the listening socket and the shared
state file (`shared.SharedState`) and gets its job (settings, token, which worker it is)
pickled on stdin, never in its arguments or environment.  A worker says "ready" on stdout
once it accepts connections; the supervisor announces the server only when all have.

Per process, and how it is made server-wide: key cool-downs and the plan's usage windows
are shared (one usage poll per period for the whole server); `max_concurrency` is split
between the workers (`worker_shares`), so the upstream never sees more at once; logs
rotate safely from several writers (`reqlog`); the usage ledger is SQLite in WAL mode (or
the gateway's database), made for several writers.  The rest stays per worker and is
documented in the README (auto mode's endpoint memory, /healthz and /metrics counters).

Workers run in a session of their own, so a Ctrl-C in the terminal reaches only the
supervisor, which stops every worker with SIGTERM (their graceful shutdown) and SIGKILLs
one that outlives the bound; a worker stops when its supervisor is gone (its stdin ends).  A
worker that ends unexpectedly is replaced after a backoff; a crash loop stops the server.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import trio

from ..ledger.store import LedgerError
from ..ledger.writer import Ledger, ledger_path, shared_factory
from ..settings import Settings
from ..team.gate import Gate
from ..team.store import TeamError, TeamStore, open_team_store
from .hosting import SHUTDOWN_BOUND, serve, serve_until_signal
from .shared import SharedState

READY = b"ready\n"
_LENGTH = struct.Struct("<Q")  # before the pickled job on a worker's stdin
# How long a worker may take to accept connections (imports, a team database to reach).
START_TIMEOUT = 60.0
# A worker still running this long after SIGTERM is killed (its own shutdown is bounded).
STOP_TIMEOUT = SHUTDOWN_BOUND + 2.0


@dataclass(frozen=True)
class RestartPolicy:
    """When a worker that ended unexpectedly is replaced, and when the server gives up."""

    max_restarts: int = 5  # within `window` seconds; one more exit is a crash loop
    window: float = 60.0
    first_delay: float = 0.5
    max_delay: float = 8.0


def restart_delay(policy: RestartPolicy, exits: Sequence[float], now: float) -> float | None:
    """Seconds to wait before replacing a worker, given the times of every unexpected exit
    so far (the latest included); None for a crash loop, which ends the server."""
    recent = sum(1 for when in exits if now - when < policy.window)
    if recent > policy.max_restarts:
        return None
    delay: float = policy.first_delay * 2.0 ** max(recent - 1, 0)
    return min(delay, policy.max_delay)


def worker_shares(total: int, workers: int) -> list[int]:
    """`max_concurrency` split between the workers: the shares add up to TOTAL."""
    return [total // workers + (1 if index < total % workers else 0) for index in range(workers)]


def workers_limit() -> int:
    """The most workers `--workers` accepts: more than a few per core only adds contention."""
    return (os.cpu_count() or 1) * 4


def exit_text(returncode: int) -> str:
    return f"signal {-returncode}" if returncode < 0 else f"exit status {returncode}"


class WorkersFailed(Exception):
    """The workers could not start, or kept dying: the message is the one line for the user."""


@dataclass(frozen=True)
class ServeJob:
    """What every worker serves: what `serve()` takes, and for a team gateway where its database is."""

    settings: Settings
    token: str
    host: str
    admin_token: str | None = None
    team: bool = False
    team_db: str | None = None  # the gateway's PostgreSQL URL; None: the usage ledger's SQLite


@dataclass(frozen=True)
class _WorkerJob:
    """One worker's share of a ServeJob, sent on its stdin."""

    job: ServeJob
    index: int
    listen_fd: int
    shared_fd: int
    parent: int


def team_gateway(settings: Settings, database: str | None) -> tuple[TeamStore, Gate, Ledger]:
    """A gateway's store (raises LedgerError), its gate and its ledger, all on the one database."""
    store = open_team_store(database, ledger_path(settings))
    return store, Gate(store, threads=getattr(store.db, "pool_size", 1)), Ledger(shared_factory(store.db))


def run_workers(
    job: ServeJob,
    listener: socket.socket,
    workers: int,
    announce: Callable[[str, int], None],
    *,
    policy: RestartPolicy = RestartPolicy(),
) -> None:
    """Serve JOB with WORKERS processes on LISTENER until SIGINT, SIGTERM or SIGHUP;
    ANNOUNCE once all accept connections.  Raises WorkersFailed."""
    shared = SharedState.create()
    try:
        supervisor = _Supervisor(job, listener, shared, workers, policy)
        trio.run(supervisor.run, announce)
    finally:
        shared.close()
    if supervisor.failure is not None:
        raise WorkersFailed(supervisor.failure)


class _Supervisor:
    def __init__(
        self, job: ServeJob, listener: socket.socket, shared: SharedState, workers: int, policy: RestartPolicy
    ) -> None:
        shares = worker_shares(job.settings.max_concurrency, workers)
        self._jobs = [
            _WorkerJob(
                dataclasses.replace(job, settings=dataclasses.replace(job.settings, max_concurrency=share)),
                index,
                listener.fileno(),
                shared.fd,
                os.getpid(),
            )
            for index, share in enumerate(shares, 1)
        ]
        self._address: tuple[str, int] = listener.getsockname()[:2]
        self._policy = policy
        self._exits: list[float] = []
        self.failure: str | None = None

    async def run(self, announce: Callable[[str, int], None]) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                async with trio.open_nursery() as starting:  # all at once: each takes a while to import
                    for worker in self._jobs:
                        starting.start_soon(nursery.start, self._keep_running, worker)
                if self.failure is None:
                    announce(*self._address)
                    async for _ in signals:
                        break
                nursery.cancel_scope.cancel()

    def _fail(self, message: str) -> None:
        if self.failure is None:
            self.failure = message
        self._nursery.cancel_scope.cancel()

    async def _keep_running(self, worker: _WorkerJob, task_status: trio.TaskStatus[None]) -> None:
        """Run WORKER, replacing it whenever it ends, until cancelled or a crash loop; started
        once the first one is ready (or could not start: `failure` says so)."""
        started = False
        while True:
            process = await trio.lowlevel.open_process(
                [sys.executable, "-c", _WORKER_ENTRY],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                pass_fds=(worker.listen_fd, worker.shared_fd),
                start_new_session=True,  # the terminal's Ctrl-C is the supervisor's to forward
            )
            try:
                job = pickle.dumps(worker)
                ready = await _ready(process, _LENGTH.pack(len(job)) + job)
                if not started:
                    started = True
                    task_status.started()
                    if not ready:
                        return self._fail(f"worker {worker.index} could not start ({exit_text(await process.wait())})")
                code = await process.wait()
            finally:
                with trio.CancelScope(shield=True):
                    await _stop(process)
            self._exits.append(trio.current_time())
            delay = restart_delay(self._policy, self._exits, trio.current_time())
            if delay is None:
                return self._fail(
                    f"workers keep ending ({len(self._exits)} times, the last: worker {worker.index}, "
                    f"{exit_text(code)}); stopping the server"
                )
            _say(f"worker {worker.index} (pid {process.pid}) ended ({exit_text(code)}); a new one starts in {delay:g} s")
            await trio.sleep(delay)


_WORKER_ENTRY = "import sys; from codexglm.server.workers import main; sys.exit(main())"


async def _ready(process: trio.Process, job: bytes) -> bool:
    """Hand PROCESS its JOB and wait for its READY line; False if it ended (or hung) before."""
    assert process.stdin is not None and process.stdout is not None
    said = b""
    with trio.move_on_after(START_TIMEOUT):
        try:
            await process.stdin.send_all(job)  # stdin stays open: its end tells the worker we are gone
        except trio.BrokenResourceError:
            return False  # it died at once
        while not said.endswith(READY):
            chunk = await process.stdout.receive_some()
            if not chunk:
                return False
            said += chunk
        return True
    process.kill()
    return False


async def _stop(process: trio.Process) -> None:
    """End PROCESS: SIGTERM (its graceful shutdown), SIGKILL past STOP_TIMEOUT."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        with trio.move_on_after(STOP_TIMEOUT):
            await process.wait()
    if process.returncode is None:
        process.kill()
        await process.wait()
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            await pipe.aclose()


def _say(message: str) -> None:
    print(f"codexglm: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the worker


def _stop_with_supervisor(parent: int) -> None:
    """SIGTERM (the graceful shutdown) once the supervisor is gone, even by SIGKILL: the
    kernel then closes its end of our stdin.  (Not PR_SET_PDEATHSIG: trio starts processes
    from a thread, and that signal fires when the thread ends.)"""

    def watch() -> None:
        while os.read(sys.stdin.fileno(), 4096):
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    if os.getppid() != parent:
        sys.exit(128 + signal.SIGTERM)
    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()


def _read_job() -> _WorkerJob:
    """The job the supervisor wrote on stdin: its length, then the pickle."""
    stdin = sys.stdin.fileno()
    data = b""
    while len(data) < _LENGTH.size or len(data) < _LENGTH.size + _LENGTH.unpack_from(data)[0]:
        chunk = os.read(stdin, 65536)
        if not chunk:
            raise EOFError("the supervisor went away before handing over the job")
        data += chunk
    job: _WorkerJob = pickle.loads(data[_LENGTH.size:])
    return job


def serve_job(
    job: ServeJob,
    listener: socket.socket,
    announce: Callable[[str, int], None],
    *,
    shared: SharedState | None = None,
    worker: int | None = None,
) -> None:
    """Serve JOB on LISTENER in this process until a signal: the whole server, or one worker."""
    serving = functools.partial(
        serve, job.settings, job.token, sock=listener, host=job.host, admin_token=job.admin_token,
        shared=shared, worker=worker,
    )
    store = None
    if job.team:
        try:
            store, gate, ledger = team_gateway(job.settings, job.team_db)
        except LedgerError as exc:
            raise TeamError(f"cannot open the team database: {exc}") from None
        serving = functools.partial(serving, gate=gate, ledger=ledger)
    try:
        trio.run(serve_until_signal, serving, announce)
    finally:
        if store is not None:
            store.close()


def _worker_main() -> int:
    worker = _read_job()
    _stop_with_supervisor(worker.parent)

    def ready(host: str, port: int) -> None:
        os.write(sys.stdout.fileno(), READY)

    listener = socket.socket(fileno=worker.listen_fd)
    serve_job(worker.job, listener, ready, shared=SharedState(worker.shared_fd), worker=worker.index)
    return 0


def main() -> int:
    """A worker's entry point: one line on stderr, never a traceback, when it cannot serve."""
    try:
        return _worker_main()
    except KeyboardInterrupt:
        return 130
    except TeamError as exc:
        _say(str(exc))
        return 1
    except Exception as exc:
        if os.environ.get("CODEXGLM_DEBUG"):
            raise
        _say(f"worker: internal error: {type(exc).__name__}: {exc} (set CODEXGLM_DEBUG=1 for details)")
        return 1

