"""The proxy self-test: a real Codex-shaped request through a freshly started proxy, then
one turn of the installed Codex itself through the same proxy.

The request declares the three kinds of tool Codex sends (a function, a freeform custom
tool and a function inside a namespace, like an MCP server's) and asks GLM to call each.
What comes back is judged by the rules Codex 0.169's stream reader applies (protocol.md
§4.1): events it drops, items it cannot route, a missing `response.completed` id.  The
Codex turn (`codex exec --json`, in an empty CODEX_HOME so nothing of the user's is read
or written) shows that this Codex version and codexglm's overrides work together.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import trio

from ..codex.argv import codex_arguments
from ..codex.capabilities import capabilities
from ..codex.catalog import CatalogError, build_catalog
from ..codex.contract import TERMINAL_EVENTS, Call, Verdict, judge
from ..codex.guard import codex_error
from ..codex.overrides import TOKEN_ENV, codex_overrides
from ..codex.version import CodexInfo, format_version
from ..config import cache_dir
from ..launcher import codex_environment, one_line
from ..settings import Settings
from ..translate import SSEDecoder
from ..translate.sse import SSEError
from .report import Check, Status, ms

FUNCTION = "report_status"
CUSTOM = "write_note"
NAMESPACE, NAMESPACED = "mcp__doctor", "ping"
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": FUNCTION,
        "description": "Report the status of the connectivity check.",
        "strict": False,
        "parameters": {"type": "object", "properties": {"status": {"type": "string"}}, "required": ["status"],
                       "additionalProperties": False},
    },
    {
        "type": "custom",
        "name": CUSTOM,
        "description": "Write a short note. This is a FREEFORM tool: its input is plain text, not JSON.",
        "format": {"type": "text"},
    },
    {
        "type": "namespace",
        "name": NAMESPACE,
        "description": "Tools of the doctor MCP server.",
        "tools": [
            {
                "type": "function",
                "name": NAMESPACED,
                "description": "Answer a connectivity ping.",
                "strict": False,
                "parameters": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
            }
        ],
    },
]
PROMPT = (
    "This is an automated connectivity check. Write one short sentence saying you are ready, then call "
    f'all three tools once, in parallel: {FUNCTION} with status "ok", {CUSTOM} with the text "ok", and '
    f'{NAMESPACED} from the {NAMESPACE} server with text "ok".'
)
_OUTPUT_EVENTS = ("response.output_text.delta", "response.reasoning_summary_text.delta",
                  "response.reasoning_text.delta", "response.output_item.done")


def request_body(model: str) -> dict[str, Any]:
    """A streaming request shaped like Codex 0.169's."""
    return {
        "model": model,
        "instructions": "You are Codex, a coding agent. Follow the user's instructions exactly.",
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": PROMPT}]}],
        "tools": TOOLS,
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "reasoning": {"effort": "low", "summary": "auto"},
        "store": False,
        "stream": True,
        "include": ["reasoning.encrypted_content"],
    }


# --------------------------------------------------------------------------- judging


# The tools as `judge` names them, and what kind each is.
DECLARED = {FUNCTION: "function", CUSTOM: "custom", f"{NAMESPACE}.{NAMESPACED}": "function"}


def inspect_events(events: list[Any]) -> Verdict:
    """The self-test's stream judged by Codex's stream contract."""
    return judge(events, declared=DECLARED)


def _label(call: Call) -> str:
    if call.type == "custom_tool_call":
        return "freeform"
    return "namespaced" if call.namespace else "function"


def verdict(found: Verdict, timings: Mapping[str, float]) -> tuple[Status, str, str]:
    terminal = found.terminal or {}
    if terminal.get("type") == "response.failed":
        error = (terminal.get("response") or {}).get("error") or {}
        return (
            Status.FAIL,
            f"the proxy reported a failure: {error.get('message') or error.get('code') or 'no details'}",
            "See the endpoint and model checks above.",
        )
    if found.problems:
        return (
            Status.FAIL,
            f"the answer is not in the shape Codex needs: {'; '.join(found.problems)}",
            "Please report this output and the proxy's request log.",
        )
    if terminal.get("type") == "response.incomplete":
        reason = (terminal.get("response") or {}).get("incomplete_details") or {}
        return Status.WARN, f"GLM stopped early ({reason.get('reason', 'no reason given')})", "Run the doctor again."
    came = [what for what, there in (("text", found.text), ("reasoning", found.reasoning)) if there]
    if found.calls:
        labels = ", ".join(_label(call) for call in found.calls)
        came.append(f"{len(found.calls)} tool call{'s' * (len(found.calls) > 1)} ({labels})")
    latency = ""
    if "proxy_ms" in timings:
        latency = f"; the proxy adds {timings['proxy_ms']:.0f} ms"
        if "first_output_ms" in timings:
            latency += f", first output after {timings['first_output_ms']:.0f} ms"
    summary = f"{_join(came) or 'nothing'} came back in Codex's shape{latency}"
    if not found.calls:
        return Status.WARN, f"{summary}, but GLM called no tool", "Run the doctor again; if GLM never calls tools, try another default_model."
    return Status.OK, summary, ""


def _join(parts: list[str]) -> str:
    if len(parts) < 2:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


# --------------------------------------------------------------------------- running


async def selftest(settings: Settings, timeout: float, codex: CodexInfo | None = None,
                   env: Mapping[str, str] | None = None) -> list[Check]:
    """Start the proxy on a free loopback port, send the request, then (if CODEX is given
    and the request passed) run one Codex turn through it; stop the proxy."""
    try:
        from ..server import serve
    except ImportError as exc:  # a broken install: quart or hypercorn missing
        return [Check("proxy.selftest", "self-test", Status.FAIL, f"the proxy cannot be loaded: {one_line(exc)}",
                      "Reinstall codexglm with its dependencies (pip install --force-reinstall codexglm).")]

    token = secrets.token_urlsafe(24)
    crashed: list[BaseException] = []

    async def run_proxy(task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            await serve(settings, token, task_status=task_status)
        except Exception as exc:  # reported as the check's result, not as a traceback
            crashed.append(exc)

    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        try:
            host, port = await nursery.start(run_proxy)
        except RuntimeError:
            reason = one_line(crashed[0]) if crashed else "it stopped before listening"
            return [Check("proxy.selftest", "self-test", Status.FAIL, f"the proxy did not start: {reason}",
                          "See the loopback port check above; `codexglm serve` shows the full error.")]
        through: list[Check] = []
        try:
            check = await _exchange(f"http://{host}:{port}/v1/responses", token, settings.default_model, timeout)
            left = timeout - (trio.current_time() - started)
            if codex is not None and check.status is Status.OK:
                through.append(await codex_turn(codex, settings, port, token, env or {}, left))
        finally:
            nursery.cancel_scope.cancel()
    if crashed:
        return [Check("proxy.selftest", "self-test", Status.FAIL, f"the proxy failed: {one_line(crashed[0])}",
                      "Please report this output and the proxy's server.log.")]
    return [replace(check, timings={**check.timings, "elapsed_ms": ms(trio.current_time() - started)}), *through]


CODEX_PROMPT = "This is a connectivity check. Reply with the single word OK."


async def codex_turn(codex: CodexInfo, settings: Settings, port: int, token: str, env: Mapping[str, str],
                     timeout: float) -> Check:
    """One `codex exec` turn of the installed Codex through the proxy on PORT."""
    title = f"self-test through Codex {format_version(codex.version)}"
    started = trio.current_time()
    if timeout < 1.0:
        return Check("codex.selftest", title, Status.SKIP, "not run: no time left")
    cache = cache_dir(env)
    able = await trio.to_thread.run_sync(capabilities, codex, cache, abandon_on_cancel=True)
    try:
        catalog: Path | None = await trio.to_thread.run_sync(
            lambda: build_catalog(codex, settings, cache_dir=cache, on_fallback=lambda _: None), abandon_on_cancel=True)
    except CatalogError:
        catalog = None  # the catalog check above reports why
    with tempfile.TemporaryDirectory(prefix="codexglm-doctor-") as home:
        overrides = codex_overrides(port, settings, catalog=catalog, model=settings.default_model)
        args = ["exec", "--json", "--skip-git-repo-check", "--sandbox", "read-only", "-C", home, CODEX_PROMPT]
        argv = [codex.path, *codex_arguments(args, overrides, able)]
        child_env = {**codex_environment(env), TOKEN_ENV: token, "CODEX_HOME": home}
        done = None
        with trio.move_on_after(timeout - (trio.current_time() - started)):
            try:
                done = await trio.run_process(argv, env=child_env, stdin=subprocess.DEVNULL, capture_stdout=True,
                                              capture_stderr=True, check=False)
            except OSError as exc:
                return Check("codex.selftest", title, Status.FAIL, f"cannot run {codex.path}: {exc.strerror or exc}",
                             "Reinstall Codex.")
    timings = {"elapsed_ms": ms(trio.current_time() - started)}
    if done is None:
        return Check("codex.selftest", title, Status.WARN, f"Codex gave no answer within {timeout:.0f} s",
                     "GLM or Codex was slow; run the doctor again.", timings)
    events = [json.loads(line) for line in done.stdout.decode(errors="replace").splitlines() if line.startswith("{")]
    answered = [e["item"] for e in events if e.get("type") == "item.completed"
                and isinstance(e.get("item"), dict) and e["item"].get("type") == "agent_message"]
    if done.returncode == 0 and answered:
        return Check("codex.selftest", title, Status.OK, "Codex ran a turn through the proxy and got an answer", "",
                     timings)
    errors = [str(e.get("message") or (e.get("error") or {}).get("message")) for e in events
              if e.get("type") in ("error", "turn.failed")]
    reason = errors[-1] if errors else codex_error(done.stderr.decode(errors="replace"), done.returncode)
    return Check("codex.selftest", title, Status.FAIL, f"Codex's turn through the proxy failed: {reason}",
                 "Please report this output; `codexglm exec \"hi\"` shows the same run.", timings)


async def _exchange(url: str, token: str, model: str, timeout: float) -> Check:
    events: list[Any] = []
    timings: dict[str, float] = {}
    title = "self-test"
    sent = trio.current_time()
    with trio.move_on_after(timeout):
        try:
            async with httpx.AsyncClient(timeout=httpx.Timeout(timeout), trust_env=False) as http:
                async with http.stream("POST", url, json=request_body(model),
                                       headers={"Authorization": f"Bearer {token}"}) as response:
                    if response.status_code != 200:
                        body = (await response.aread())[:2000].decode(errors="replace")
                        return Check("proxy.selftest", title, Status.FAIL,
                                     f"the proxy answered HTTP {response.status_code}: {_error_text(body)}",
                                     "Please report this output and the proxy's request log.")
                    await _read_events(response, events, timings, sent)
        except (httpx.HTTPError, SSEError) as exc:
            return Check("proxy.selftest", title, Status.FAIL, f"the stream from the proxy broke: {one_line(exc)}",
                         "Please report this output and the proxy's server.log.", timings)
        status, message, fix = verdict(inspect_events(events), timings)
        return Check("proxy.selftest", title, status, message, fix, timings)
    got = f" after {len(events)} events" if events else ""
    return Check("proxy.selftest", title, Status.WARN, f"no complete answer within {timeout:.0f} s{got}",
                 "GLM was slow; run the doctor again.", timings)


async def _read_events(response: httpx.Response, events: list[Any], timings: dict[str, float], sent: float) -> None:
    decoder = SSEDecoder()
    async for raw in response.aiter_raw():
        for payload in decoder.feed(raw):
            if payload == "[DONE]":
                continue
            try:
                event = json.loads(payload)
            except ValueError:
                event = None
            now = trio.current_time() - sent
            if not events:
                timings["proxy_ms"] = ms(now)
            if isinstance(event, dict) and event.get("type") in _OUTPUT_EVENTS and "first_output_ms" not in timings:
                timings["first_output_ms"] = ms(now)
            events.append(event)
            if isinstance(event, dict) and event.get("type") in TERMINAL_EVENTS:
                timings["total_ms"] = ms(now)
                return


def _error_text(body: str) -> str:
    try:
        error = json.loads(body).get("error") or {}
        return str(error.get("message") or body)
    except (ValueError, AttributeError):
        return body.strip() or "no body"


