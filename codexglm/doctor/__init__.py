"""`codexglm doctor`: find what stands between this machine and a working Codex-on-GLM.

Local checks run first (they are instant); the Codex checks and the requests to Z.ai then
run concurrently, each under its own timeout, and the proxy self-test runs last, only when
an endpoint in use answered.  The whole run is bounded (`Limits.total`), so a dead
network costs seconds and every failure is a line of the report, never a traceback.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import partial
from typing import Any

import httpx
import trio

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

from .. import discovery
from ..codex.version import CodexInfo
from ..config import ConfigError, LoadedConfig, cache_dir, load_config, split_keys
from ..providers import key_variables
from ..providers.glm import endpoints as glm_endpoints
from ..settings import Settings
from . import codexcheck, local, network, remote
from .report import (
    Check,
    Report,
    Status,
    exit_code,
    ms,
    render_json,
    render_text,
    terminal_style,
)

__all__ = ["Limits", "diagnose", "run_doctor"]


@dataclass(frozen=True)
class Limits:
    """Time bounds in seconds.  The defaults keep a run under 20 s even when every
    request hangs: probes (5) + self-test (9) + the proxy's shutdown."""

    probe: float = 5.0  # each request to Z.ai
    codex: float = 5.0  # each run of the codex executable
    selftest: float = 9.0
    total: float = 19.0


async def diagnose(
    env: Mapping[str, str] | None = None,
    *,
    flags: Mapping[str, Any] | None = None,
    offline: bool = False,
    limits: Limits = Limits(),
) -> Report:
    """Run every check; FLAGS are `--glm-*` settings, as for a launch."""
    environ = os.environ if env is None else env
    started = trio.current_time()
    loaded: LoadedConfig | None = None
    error: ConfigError | None = None
    try:
        loaded = load_config(flags, env=environ)
    except ConfigError as exc:
        error = exc
    settings = loaded.settings if loaded is not None else Settings()
    checks: list[Check] = [local.config_check(loaded, error, environ)]
    if loaded is not None:
        checks.append(local.key_check(loaded, environ))
    checks += [local.port_check(), local.dirs_check(settings, environ), local.ledger_check(settings, environ, time.time())]
    gateway = local.gateway_check(settings, environ)
    checks += [gateway] if gateway is not None else []
    checks.append(local.features_check(settings))
    with trio.move_on_at(started + limits.total) as deadline:
        async with trio.open_nursery() as nursery:
            codex = _FoundCodex()
            nursery.start_soon(_guarded, "codex.error", checks, _codex_checks, settings, environ, limits, checks, codex)
            if not offline:
                nursery.start_soon(_guarded, "endpoint.error", checks, _remote_checks, loaded, environ, limits, started,
                                   checks, codex)
                for name in settings.provider_names()[1:]:
                    nursery.start_soon(
                        _guarded, f"providers.{name}", checks, _provider_checks, settings, name, environ, limits, checks
                    )
    if deadline.cancelled_caught:
        checks.append(Check("local.deadline", "time limit", Status.WARN,
                            f"some checks did not finish within {limits.total:g} s", "Run the doctor again."))
    report = Report(tuple(checks), elapsed=trio.current_time() - started, offline=offline)
    # Also the raw variable: when the config fails to load, settings hold no keys.
    raw_keys = [key for variable in key_variables() for key in split_keys(environ.get(variable, ""))]
    stored = [key for access in settings.other_providers.values() for key in access.api_keys]
    return report.redacted((*settings.api_keys, *stored, *raw_keys))


async def _guarded(check_id: str, out: list[Check], run: Callable[..., Awaitable[None]], *args: Any) -> None:
    """A bug in one group of checks becomes a failed check, not a traceback over the report."""
    try:
        await run(*args)
    except Exception as caught:
        exc: BaseException = caught
        while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
            exc = exc.exceptions[0]
        out.append(Check(check_id, "doctor", Status.FAIL, f"this check crashed: {type(exc).__name__}: {exc}",
                         "Please report this output (set CODEXGLM_DEBUG=1 for the traceback)."))
        if os.environ.get("CODEXGLM_DEBUG"):
            raise


class _FoundCodex:
    """The installed Codex, handed from the Codex checks to the self-test that runs it."""

    def __init__(self) -> None:
        self.info: CodexInfo | None = None
        self.ready = trio.Event()


async def _codex_checks(settings: Settings, env: Mapping[str, str], limits: Limits, out: list[Check],
                        codex: _FoundCodex) -> None:
    try:
        info, found = await codexcheck.find(env, limits.codex)
    finally:
        codex.ready.set()
    codex.info = info
    out.append(found)
    if info is None:
        out.append(await codexcheck.config_check(None, settings, env, limits.codex))
        return

    async def catalog() -> None:
        out.append(await codexcheck.catalog_check(info, settings, env, limits.codex))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(catalog)
        out.append(await codexcheck.config_check(info, settings, env, limits.codex))


async def _remote_checks(
    loaded: LoadedConfig | None, env: Mapping[str, str], limits: Limits, started: float, out: list[Check],
    codex: _FoundCodex,
) -> None:
    if loaded is None or not loaded.settings.api_keys:
        why = "codexglm's config has an error" if loaded is None else "no API key"
        out.append(Check("endpoint.skipped", "endpoints", Status.SKIP,
                         f"endpoints, models, quota and the proxy self-test not checked: {why}"))
        return
    settings, sources = loaded.settings, loaded.sources
    key = settings.api_keys[0]
    in_use = {label for label, _ in settings.endpoints()}
    bases = {"coding": glm_endpoints.coding_url(settings), "general": glm_endpoints.general_url(settings)}
    probe = network.probe_body(settings, settings.default_model)
    chats: dict[str, network.Outcome] = {}
    listings: dict[str, network.Outcome] = {}
    quota: list[network.Outcome] = []
    async with network.client(limits.probe) as http:

        async def chat(label: str) -> None:
            chats[label] = await network.probe_chat(http, bases[label], key, probe, timeout=limits.probe)

        async def listing(label: str) -> None:
            listings[label] = await network.list_models(http, bases[label], key, timeout=limits.probe)

        async def usage() -> None:
            quota.append(await network.fetch_quota(http, glm_endpoints.quota_url(settings), key, timeout=limits.probe))

        async with trio.open_nursery() as nursery:
            for label in bases:
                nursery.start_soon(chat, label)
                nursery.start_soon(listing, label)
            nursery.start_soon(usage)

        now = datetime.now(timezone.utc)
        endpoints = [remote.Endpoint(label, chats[label], label in in_use) for label in bases]
        for endpoint in endpoints:
            others = [e for e in endpoints if e is not endpoint]
            out.append(remote.endpoint_check(endpoint, settings, sources, others, now))
        out.append(remote.mode_check(endpoints, settings, sources))
        out.append(remote.key_type_check(endpoints, quota[0], settings, sources))
        out += _quota_checks(quota[0], now)

        # The endpoint the proxy would use: the first one in use that takes the key.  Models
        # are looked up there, or, when the mode is wrong, where the key does work.
        serving = next((e for e in endpoints if e.in_use and e.accepts_key), None)
        lister = serving or next((e for e in endpoints if e.accepts_key), None)
        if lister is not None:
            _remember_models(settings.provider, listings[lister.label], env)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_model_checks, http, settings, sources, key, lister, listings, limits, out)
            # Leave a second for the proxy to shut down within the total bound.
            budget = min(limits.selftest, started + limits.total - trio.current_time() - 1.0)
            if serving is None or not serving.outcome.ok:
                out.append(Check("proxy.selftest", "self-test", Status.SKIP,
                                 "not run: no endpoint in use answered the test request"))
            elif budget < 1.0:
                out.append(Check("proxy.selftest", "self-test", Status.SKIP, "not run: no time left"))
            else:
                nursery.start_soon(_selftest, settings, budget, codex, env, out)


def _remember_models(provider: str, listed: network.Outcome, env: Mapping[str, str]) -> None:
    """A model list the doctor got anyway refreshes the discovery cache (`codexglm models`)."""
    if listed.ok:
        with contextlib.suppress(OSError):
            discovery.store_ids(provider, sorted(listed.document), cache_dir(env))


async def _provider_checks(
    settings: Settings, name: str, env: Mapping[str, str], limits: Limits, out: list[Check]
) -> None:
    """Another provider the user has a key for: reachable, key taken, a model list, one tiny
    request to its default model."""
    routed = settings.for_provider(name)
    provider, key = routed.upstream, routed.api_keys[0]
    base = routed.endpoints()[0][1]
    async with network.client(limits.probe) as http:
        listed = await network.list_models(http, base, key, timeout=limits.probe, provider=provider)
        body = network.probe_body(routed, routed.default_model)
        chat = await network.probe_chat(http, base, key, body, timeout=limits.probe, provider=provider)
    _remember_models(name, listed, env)
    check = remote.provider_check(provider.vendor, name, routed.default_model, listed, chat)
    out.append(remote.where_set(check, routed, remote.outcome_settings(chat, routed), routed.endpoints()[0][0]))


async def _model_checks(
    http: httpx.AsyncClient,
    settings: Settings,
    sources: Mapping[str, str],
    key: str,
    endpoint: remote.Endpoint | None,
    listings: Mapping[str, network.Outcome],
    limits: Limits,
    out: list[Check],
) -> None:
    uses = remote.models_in_use(settings)
    listed = listings[endpoint.label] if endpoint is not None else None
    probes: dict[str, network.Outcome | None] = {use.model: None for use in uses}
    if endpoint is not None:
        probes[uses[0].model] = endpoint.outcome  # the endpoint probe asked for the default model
        if listed is None or not listed.ok:
            # No model list here: a one-token request per mapped model instead.
            base = endpoint.outcome.url.removesuffix("/chat/completions")

            async def ask(model: str) -> None:
                body = network.probe_body(settings, model)
                probes[model] = await network.probe_chat(http, base, key, body, timeout=limits.probe)

            async with trio.open_nursery() as nursery:
                for use in uses[1:]:
                    nursery.start_soon(ask, use.model)
    out += [remote.model_check(use, listed, probes[use.model], sources, settings) for use in uses]


async def _selftest(settings: Settings, timeout: float, codex: _FoundCodex, env: Mapping[str, str],
                    out: list[Check]) -> None:
    from .selftest import selftest

    with trio.move_on_after(timeout / 2):  # the Codex checks find it in well under a second
        await codex.ready.wait()
    out += await selftest(settings, timeout, codex.info, env)


def _quota_checks(outcome: network.Outcome, now: datetime) -> list[Check]:
    """Usage windows where Z.ai exposes them; a quiet skip everywhere else."""
    title = "usage windows"
    if outcome.ok:
        timings = {"latency_ms": ms(outcome.latency)} if outcome.latency is not None else {}
        checks = [replace(check, timings=timings) for check in remote.quota_checks(outcome.document, now)]
        return checks or [Check("quota", title, Status.SKIP, "this key reports no usage windows")]
    host = network.host_of(outcome.url)
    if outcome.network is not None:
        return [Check("quota", title, Status.SKIP, f"not shown: cannot reach {host} ({outcome.network})")]
    return [Check("quota", title, Status.SKIP, f"not shown: {host} {outcome.malformed}")]


# --------------------------------------------------------------------------- command line


def run_doctor(flags: Mapping[str, Any], *, json_output: bool, offline: bool) -> int:
    """`codexglm doctor [--json] [--offline] [--glm-* options]`: 0 healthy, 1 a check failed.

    The command line is parsed by the CLI from its one command table; FLAGS are the
    `--glm-` settings, which apply as for a launch."""
    # The self-test's proxy logs to files; nothing of it belongs on the terminal.
    logging.getLogger("codexglm").addHandler(logging.NullHandler())
    report = trio.run(partial(diagnose, os.environ, flags=dict(flags), offline=offline))
    if json_output:
        print(render_json(report))
    else:
        print(render_text(report, terminal_style(sys.stdout, os.environ)))
    return exit_code(report)
