"""`codexglm doctor`: every failure it must name, against the mock GLM and a stand-in codex.

Each test builds a private environment (codexglm dirs, CODEX_HOME, HOME) and runs
`diagnose()` with it; the stand-in codex is a small Python script that answers
`--version` and `debug models` the way Codex 0.169 does.
"""

from __future__ import annotations

import functools
import json
import os
import re
import socket
import ssl
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from codexglm.cli import main
from codexglm.codex.version import INSTALL_COMMAND, VERIFIED_CODEX, format_version
from codexglm.doctor import Limits, diagnose, run_doctor
from codexglm.doctor.codexcheck import lint_config, lint_profile
from codexglm.doctor.network import Outcome
from codexglm.doctor.remote import Endpoint, mode_check, models_in_use, quota_checks
from codexglm.doctor.report import Check, Report, Status, Style, exit_code, render_json, render_text, terminal_style
from codexglm.doctor.selftest import CODEX_PROMPT, CUSTOM, FUNCTION, NAMESPACE, NAMESPACED, inspect_events, verdict
from codexglm.providers import GLM
from codexglm.server.upstream import describe_transport_error
from codexglm.settings import Settings
from codexglm.translate import flat_name
from codexglm.translate.errors import classify_error as classify

classify_error = functools.partial(classify, GLM)
from tests.codex_cli import codex_binary, version_under_test
from tests.mockglm import DEFAULT_KEY, Error, Hang, MockGLM, open_mock_glm, quota_data, text_reply, tool_reply

if sys.version_info < (3, 11):
    from exceptiongroup import ExceptionGroup

REAL_CODEX = Path(codex_binary(install_missing=False) or "/nonexistent/codex")
FAST = Limits(probe=2.0, codex=10.0, selftest=10.0, total=25.0)

STAND_IN = '''#!{python}
"""A stand-in for the codex CLI: --version, `exec --json` and `debug models` as Codex answers them."""
import json, os, sys

VERSION = {version!r}
REFUSE_CATALOG = {refuse_catalog!r}
BUNDLED = {{"models": [{{"slug": "gpt-test-codex", "display_name": "GPT test", "base_instructions": "You are Codex.",
                        "shell_type": "unified_exec", "visibility": "list", "supported_in_api": True, "priority": 1,
                        "apply_patch_tool_type": "freeform", "supported_reasoning_levels": []}}]}}

args = sys.argv[1:]
if args == ["--version"]:
    print("codex-cli " + VERSION)
    sys.exit(0)
overrides = dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "-c")
if "exec" in args and "--json" in args:  # one turn through the provider the overrides define
    import re, urllib.request
    if os.environ.get("STAND_IN_EXEC_FAILS"):
        print(json.dumps({{"type": "error", "message": "unexpected status 400: the model refused"}}))
        sys.exit(1)
    provider = overrides["model_providers.codexglm"]
    base = re.search(r'base_url="([^"]+)"', provider).group(1)
    token = os.environ[re.search(r'env_key="([^"]+)"', provider).group(1)]
    body = {{"model": json.loads(overrides["model"]), "stream": True, "instructions": "You are Codex.",
             "input": [{{"type": "message", "role": "user", "content": [{{"type": "input_text", "text": args[-1]}}]}}]}}
    request = urllib.request.Request(base + "/responses", data=json.dumps(body).encode(), method="POST",
                                     headers={{"Authorization": "Bearer " + token, "Content-Type": "application/json"}})
    events = [json.loads(line[6:]) for line in urllib.request.urlopen(request, timeout=20).read().decode().splitlines()
              if line.startswith("data: {{")]
    last = events[-1]
    if last["type"] != "response.completed":
        print(json.dumps({{"type": "turn.failed", "error": {{"message": last["response"]["error"]["message"]}}}}))
        sys.exit(1)
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    print(json.dumps({{"type": "item.completed", "item": {{"id": "item_0", "type": "agent_message", "text": text}}}}))
    sys.exit(0)
if "debug" not in args or "models" not in args:
    sys.exit("Error: the stand-in only knows --version, exec --json and debug models")
if "--bundled" in args:
    print(json.dumps(BUNDLED))
    sys.exit(0)
config = os.path.join(os.environ.get("CODEX_HOME", ""), "config.toml")
if os.path.exists(config) and "bad_field" in open(config).read():
    sys.stderr.write("WARNING: proceeding, even though we could not create PATH aliases\\n")
    sys.exit("Error: " + config + ":1:1: unknown field `bad_field`\\n\\nStack backtrace:\\n   0: <unknown>")
catalog = overrides.get("model_catalog_json")
if catalog is None:
    print(json.dumps(BUNDLED))
    sys.exit(0)
if REFUSE_CATALOG:
    sys.exit("Error: failed to parse model_catalog_json path " + catalog + ": missing field `display_name`")
print(open(json.loads(catalog)).read())
'''


def make_codex(directory: Path, version: str = "0.169.0", *, refuse_catalog: bool = False) -> Path:
    path = directory / f"codex-{version}"
    path.write_text(STAND_IN.format(python=sys.executable, version=version, refuse_catalog=refuse_catalog))
    path.chmod(0o755)
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A private setup: codexglm dirs, CODEX_HOME, HOME, the stand-in codex, the mock's key."""
    dirs = {name: tmp_path / name for name in ("config", "state", "cache", "codex_home", "home", "bin")}
    for path in dirs.values():
        path.mkdir()
    return {
        "HOME": str(dirs["home"]),
        "PATH": os.environ.get("PATH", ""),
        "CODEXGLM_CONFIG_DIR": str(dirs["config"]),
        "CODEXGLM_STATE_DIR": str(dirs["state"]),
        "CODEXGLM_CACHE_DIR": str(dirs["cache"]),
        "CODEX_HOME": str(dirs["codex_home"]),
        "CODEXGLM_CODEX": str(make_codex(dirs["bin"])),
        "ZAI_API_KEY": DEFAULT_KEY,
    }


def pointed_at(env: dict[str, str], mock: MockGLM, **extra: str) -> dict[str, str]:
    return {**env, "ZAI_CODING_BASE_URL": mock.coding_url, "ZAI_BASE_URL": mock.general_url, **extra}


def by_id(report: Report) -> dict[str, Check]:
    return {check.id: check for check in report.checks}


def tools_or_text(body: dict[str, Any]) -> Any:
    """The mock's answer: the three tool calls when tools are declared (the self-test),
    a short text otherwise (the one-token endpoint probes)."""
    if body.get("tools"):
        return tool_reply(
            [(FUNCTION, '{"status":"ok"}'), (CUSTOM, '{"input":"ok"}'), (flat_name(NAMESPACED, NAMESPACE), '{"text":"ok"}')],
            reasoning="The user wants three tool calls.",
            text="Ready.",
        )
    return text_reply("ready")


def beijing(delta: timedelta) -> str:
    return (datetime.now(timezone(timedelta(hours=8))) + delta).strftime("%Y-%m-%d %H:%M:%S")


# --------------------------------------------------------------------------- healthy


async def test_healthy_setup_passes_on_one_screen(env: dict[str, str]) -> None:
    async with open_mock_glm(handler=tools_or_text) as mock:
        report = await diagnose(pointed_at(env, mock), limits=FAST)
    checks = by_id(report)
    assert exit_code(report) == 0, render_text(report)
    assert checks["endpoint.coding"].status is Status.OK
    assert "key accepted" in checks["endpoint.coding"].message
    assert "latency_ms" in checks["endpoint.coding"].timings
    assert checks["endpoint.general"].status is Status.OK and "not used" in checks["endpoint.general"].message
    assert checks["endpoint.mode"].status is Status.OK
    assert "1,000,000-token context" in checks["model.glm-5.3"].message
    assert checks["quota.0"].title == "5-hour tokens" and "12% used" in checks["quota.0"].message
    selftest = checks["proxy.selftest"]
    assert selftest.status is Status.OK, selftest.message
    assert "text, reasoning and 3 tool calls (function, freeform, namespaced)" in selftest.message
    assert {"proxy_ms", "first_output_ms", "total_ms"} <= set(selftest.timings)
    for check_id in ("codex.install", "codex.config", "codex.catalog", "codex.selftest", "config", "key", "local.port",
                     "local.dirs"):
        assert checks[check_id].status is Status.OK, (check_id, checks[check_id].message)
    assert checks["codex.selftest"].title == "self-test through Codex 0.169.0"
    # The Codex turn went through the proxy to GLM, with codexglm's default model.
    turn = [r.json for r in mock.chat_requests if CODEX_PROMPT in json.dumps(r.json["messages"])]
    assert len(turn) == 1 and turn[0]["model"] == "glm-5.3"
    assert len(render_text(report).splitlines()) <= 25  # one screen, with the key-type line


async def test_a_failed_codex_turn_names_codexs_reason(env: dict[str, str]) -> None:
    async with open_mock_glm(handler=tools_or_text) as mock:
        report = await diagnose(pointed_at(env, mock, STAND_IN_EXEC_FAILS="1"), limits=FAST)
    check = by_id(report)["codex.selftest"]
    assert check.status is Status.FAIL and check.message.endswith("failed: unexpected status 400: the model refused")
    assert exit_code(report) == 1


def selftest_tools_or_codex_text(body: dict[str, Any]) -> Any:
    """The self-test's tool calls for the self-test request; a plain answer for Codex's turn."""
    declared = {tool.get("function", {}).get("name") for tool in body.get("tools") or []}
    return tools_or_text(body) if FUNCTION in declared else text_reply("OK")


@pytest.mark.skipif(not REAL_CODEX.exists(), reason="the Codex under test is not installed (python -m tests.codex_cli --install)")
async def test_real_codex_runs_a_turn_through_the_proxy(env: dict[str, str]) -> None:
    async with open_mock_glm(handler=selftest_tools_or_codex_text) as mock:
        report = await diagnose(pointed_at(env, mock, CODEXGLM_CODEX=str(REAL_CODEX)), limits=FAST)
    check = by_id(report)["codex.selftest"]
    assert check.status is Status.OK, check.message
    assert format_version(version_under_test()) in check.title


async def test_mapped_models_are_checked_against_the_model_list(env: dict[str, str]) -> None:
    mapping = json.dumps({"gpt-5": "glm-4.7", "gpt-5-mini": "glm-4.20"})
    async with open_mock_glm(handler=tools_or_text) as mock:
        report = await diagnose(pointed_at(env, mock, GLM_MODEL_MAP_JSON=mapping), limits=FAST)
    checks = by_id(report)
    assert checks["model.glm-4.7"].status is Status.OK
    assert "for gpt-5" in checks["model.glm-4.7"].message
    missing = checks["model.glm-4.20"]
    assert missing.status is Status.FAIL and "does not list this model" in missing.message
    assert re.fullmatch(r'map "gpt-5-mini" to "glm-4\.\d" in GLM_MODEL_MAP_JSON', missing.fix), missing.fix


async def test_models_without_a_model_list_are_probed_one_by_one(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_list(http: httpx.AsyncClient, base: str, key: str, *, timeout: float, provider: Any = None) -> Outcome:
        return Outcome(base + "/models", 0.01, error=classify_error(404, b"404 page not found"))

    monkeypatch.setattr("codexglm.doctor.network.list_models", no_list)
    mapping = json.dumps({"gpt-5": "glm-4.7", "gpt-5-mini": "glm-4.20"})
    async with open_mock_glm(handler=tools_or_text) as mock:
        report = await diagnose(pointed_at(env, mock, GLM_MODEL_MAP_JSON=mapping), limits=FAST)
        probed = sorted(r.json["model"] for r in mock.chat_requests
                        if not r.json.get("tools") and CODEX_PROMPT not in json.dumps(r.json["messages"]))
    checks = by_id(report)
    assert checks["model.glm-4.7"].status is Status.OK and checks["model.glm-5.3"].status is Status.OK
    assert checks["model.glm-4.20"].status is Status.FAIL and "GLM 1211" in checks["model.glm-4.20"].message
    assert probed == ["glm-4.20", "glm-4.7", "glm-5.3", "glm-5.3"]  # two endpoint probes, then one per mapped model


# --------------------------------------------------------------------------- GLM failures


async def test_bad_key_is_named_with_its_fix(env: dict[str, str]) -> None:
    async with open_mock_glm() as mock:
        report = await diagnose(pointed_at(env, mock, ZAI_API_KEY="wrong-key-5678"), limits=FAST)
    coding = by_id(report)["endpoint.coding"]
    assert coding.status is Status.FAIL
    assert "rejected the API key (GLM 1002: Authorization Token is invalid" in coding.message
    assert "ZAI_API_KEY" in coding.fix and "region" in coding.fix
    assert coding.message.endswith("(API key ****5678 from $ZAI_API_KEY)")  # where the rejected key came from
    assert by_id(report)["proxy.selftest"].status is Status.SKIP
    assert exit_code(report) == 1


async def test_wrong_plan_recommends_the_endpoint_mode_that_works(env: dict[str, str]) -> None:
    async with open_mock_glm(keys={DEFAULT_KEY: {"general"}}, handler=tools_or_text) as mock:
        report = await diagnose(pointed_at(env, mock), limits=FAST)
    checks = by_id(report)
    coding = checks["endpoint.coding"]
    assert coding.status is Status.FAIL and "GLM 1113" in coding.message
    assert coding.fix.endswith("codexglm config set endpoint_mode base-only")
    assert checks["endpoint.general"].status is Status.OK
    assert checks["model.glm-5.3"].status is Status.OK  # looked up where the key works
    mode = checks["endpoint.mode"]
    assert mode.status is Status.FAIL and mode.fix == "codexglm config set endpoint_mode base-only"
    assert mode.message.endswith("(`endpoint_mode` = coding-only, the default)")
    assert "`endpoint_mode` = coding-only, the default" in coding.message


async def test_auto_mode_falling_back_from_a_refusing_endpoint_is_healthy(env: dict[str, str]) -> None:
    async with open_mock_glm(keys={DEFAULT_KEY: {"general"}}, handler=tools_or_text) as mock:
        # A Standard key spends cash on both paths: falling back spends nothing unexpected.
        report = await diagnose(pointed_at(env, mock, GLM_ZAI_ENDPOINT_MODE="auto", GLM_ZAI_KEY_TYPE="standard"),
                                limits=FAST)
    checks = by_id(report)
    assert checks["endpoint.coding"].status is Status.SKIP
    assert "uses the pay-as-you-go endpoint instead" in checks["endpoint.coding"].message
    assert checks["endpoint.mode"].status is Status.OK and "base-only would skip" in checks["endpoint.mode"].message
    assert checks["proxy.selftest"].status is Status.OK
    assert exit_code(report) == 0, render_text(report)


@pytest.mark.parametrize("key_type", ["unknown", "compatible"])
async def test_auto_mode_that_would_fall_back_onto_cash_is_a_failure(env: dict[str, str], key_type: str) -> None:
    async with open_mock_glm(keys={DEFAULT_KEY: {"general"}}, handler=tools_or_text) as mock:
        report = await diagnose(pointed_at(env, mock, GLM_ZAI_ENDPOINT_MODE="auto", GLM_ZAI_KEY_TYPE=key_type),
                                limits=FAST)
    mode = by_id(report)["endpoint.mode"]
    assert mode.status is Status.FAIL and "spends cash" in mode.message
    assert "export GLM_ZAI_ENDPOINT_MODE=base-only" in mode.fix and "codexglm login" in mode.fix


@pytest.mark.parametrize(
    ("kind", "cash", "configured", "status", "words"),
    [
        ("coding-plan", True, "coding-plan", Status.OK, "Coding Plan uses plan quota, pay-as-you-go uses plan quota"),
        ("compatible", False, "compatible", Status.OK, "pay-as-you-go spends cash"),
        ("compatible", False, "unknown", Status.OK, "looks like Compatible"),
        ("standard", True, "coding-plan", Status.WARN, "look like Standard"),
    ],
)
async def test_doctor_names_the_key_type_and_what_each_endpoint_bills(
    env: dict[str, str], kind: str, cash: bool, configured: str, status: Status, words: str
) -> None:
    async with open_mock_glm(keys={}, handler=tools_or_text) as mock:
        mock.add_key(DEFAULT_KEY, kind, cash=cash)
        report = await diagnose(pointed_at(env, mock, GLM_ZAI_KEY_TYPE=configured), limits=FAST)
    check = by_id(report)["endpoint.keytype"]
    assert check.status is status and words in check.message, check.message
    if status is Status.WARN:
        assert "codexglm login" in check.fix


async def test_unknown_model_is_a_model_failure_not_an_endpoint_failure(env: dict[str, str]) -> None:
    path = Path(env["CODEXGLM_CONFIG_DIR"]) / "config.toml"
    path.write_text('default_model = "glm-9"\n')
    async with open_mock_glm() as mock:
        report = await diagnose(pointed_at(env, mock), limits=FAST)
    checks = by_id(report)
    assert checks["endpoint.coding"].status is Status.OK
    model = checks["model.glm-9"]
    assert model.status is Status.FAIL and "GLM 1211" in model.message
    assert model.message.endswith(f"(`default_model` = glm-9 in {path}:1)")
    assert model.fix.startswith("codexglm config set default_model glm-")
    assert checks["proxy.selftest"].status is Status.SKIP


async def test_model_missing_from_the_plan(env: dict[str, str]) -> None:
    async with open_mock_glm() as mock:
        mock.fail_next(2, Error(429, "1311", "Your current subscription plan does not yet include access to glm-5.1"))
        report = await diagnose(pointed_at(env, mock, GLM_DEFAULT_MODEL="glm-5.1"), limits=FAST)
    model = by_id(report)["model.glm-5.1"]
    assert model.status is Status.FAIL and "does not include" in model.message
    assert model.fix.startswith("Pick a model in your plan: export GLM_DEFAULT_MODEL=")


async def test_expired_plan(env: dict[str, str]) -> None:
    expired = Error(429, "1309", "Your GLM Coding Plan package has expired and is temporarily unavailable.")
    async with open_mock_glm() as mock:
        mock.fail_next(2, expired)
        report = await diagnose(pointed_at(env, mock), limits=FAST)
    coding = by_id(report)["endpoint.coding"]
    assert coding.status is Status.FAIL and "expired" in coding.message
    assert "Renew" in coding.fix


async def test_quota_reached_shows_the_reset_time(env: dict[str, str]) -> None:
    async with open_mock_glm() as mock:
        mock.fail_next(2, Error(429, "1308", f"Usage limit reached for 5 hour. Your limit will reset at {beijing(timedelta(hours=2))}"))
        mock.quota = quota_data(100, reset_in=2 * 3600)
        report = await diagnose(pointed_at(env, mock), limits=FAST)
    checks = by_id(report)
    coding = checks["endpoint.coding"]
    assert coding.status is Status.FAIL
    assert "usage limit is used up" in coding.message and "resets" in coding.message and re.search(r"\(in (1h 59m|2h 0m)\)", coding.message)
    assert coding.fix == "Wait for the reset or use a key with quota left."
    window = checks["quota.0"]
    assert window.status is Status.FAIL and window.message.startswith("used up: 100% used, resets ")
    assert window.fix == "Wait for the reset or use a key with quota left."


async def test_rate_limit_is_a_warning(env: dict[str, str]) -> None:
    async with open_mock_glm() as mock:
        mock.fail_next(2, Error(429, "1302", "Rate limit reached for requests"))
        report = await diagnose(pointed_at(env, mock), limits=FAST)
    coding = by_id(report)["endpoint.coding"]
    assert coding.status is Status.WARN and "busy right now" in coding.message


async def test_selftest_reports_a_failed_answer(env: dict[str, str]) -> None:
    def refuse_tools(body: dict[str, Any]) -> Any:
        return Error(400, "1214", "The tools parameter is illegal.") if body.get("tools") else text_reply("ready")

    async with open_mock_glm(handler=refuse_tools) as mock:
        report = await diagnose(pointed_at(env, mock), limits=FAST)
    selftest = by_id(report)["proxy.selftest"]
    assert selftest.status is Status.FAIL
    assert selftest.message.startswith("the proxy reported a failure: Z.ai rejected the request as invalid (GLM 1214")


async def test_selftest_gives_up_in_time(env: dict[str, str]) -> None:
    def hang_tools(body: dict[str, Any]) -> Any:
        return Hang(30) if body.get("tools") else text_reply("ready")

    async with open_mock_glm(handler=hang_tools) as mock:
        report = await diagnose(pointed_at(env, mock), limits=Limits(probe=2.0, codex=10.0, selftest=1.0, total=20.0))
    selftest = by_id(report)["proxy.selftest"]
    assert selftest.status is Status.WARN and selftest.message.startswith("no complete answer within 1 s")


async def test_timeout_fails_fast_with_cannot_reach(env: dict[str, str]) -> None:
    limits = Limits(probe=0.5, codex=10.0, selftest=1.0, total=20.0)
    async with open_mock_glm() as mock:
        mock.fail_next(2, Hang(30))
        report = await diagnose(pointed_at(env, mock), limits=limits)
    coding = by_id(report)["endpoint.coding"]
    assert coding.status is Status.FAIL
    assert "cannot reach 127.0.0.1:" in coding.message
    assert "ZAI_CODING_BASE_URL" in coding.fix


async def test_no_network_fails_every_remote_check_without_hanging(env: dict[str, str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = f"http://127.0.0.1:{port}"
    report = await diagnose(
        {**env, "ZAI_CODING_BASE_URL": dead + "/api/coding/paas/v4", "ZAI_BASE_URL": dead + "/api/paas/v4"}, limits=FAST
    )
    checks = by_id(report)
    assert checks["endpoint.coding"].status is Status.FAIL
    # The failure names the variable that set the dead URL.
    assert checks["endpoint.coding"].message.endswith(
        f"cannot reach 127.0.0.1:{port}: connection refused "
        f"(`coding_base_url` = {dead}/api/coding/paas/v4 from $ZAI_CODING_BASE_URL)"
    )
    assert checks["quota"].status is Status.SKIP and "cannot reach" in checks["quota"].message
    assert checks["proxy.selftest"].status is Status.SKIP
    assert exit_code(report) == 1


@asynccontextmanager
async def raw_server(response: bytes) -> AsyncIterator[str]:
    """Something that is not Z.ai (a captive portal) answering every request the same."""

    async def answer(stream: trio.SocketStream) -> None:
        async with stream:
            try:
                await stream.receive_some(65536)
                await stream.send_all(response)
            except trio.BrokenResourceError:
                pass

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(trio.serve_tcp, answer, 0)
        yield f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}"
        nursery.cancel_scope.cancel()


async def test_malformed_body_is_named(env: dict[str, str]) -> None:
    page = b"<html><title>Sign in to the Wi-Fi</title></html>"
    head = f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {len(page)}\r\nConnection: close\r\n\r\n"
    async with raw_server(head.encode() + page) as url:
        report = await diagnose(
            {**env, "ZAI_CODING_BASE_URL": url + "/api/coding/paas/v4", "ZAI_BASE_URL": url + "/api/paas/v4"}, limits=FAST
        )
    checks = by_id(report)
    coding = checks["endpoint.coding"]
    assert coding.status is Status.FAIL and "got HTTP 200 with text/html" in coding.message
    assert coding.fix.startswith("Something other than Z.ai answers at this URL")
    assert checks["quota"].status is Status.SKIP


async def test_quota_skipped_quietly_where_not_exposed(env: dict[str, str]) -> None:
    async with open_mock_glm(handler=tools_or_text) as mock:
        mock.quota = None
        report = await diagnose(pointed_at(env, mock), limits=FAST)
    quota = by_id(report)["quota"]
    assert quota.status is Status.SKIP and re.fullmatch(r"not shown: 127\.0\.0\.1:\d+ answered HTTP 404 with application/json, \d+ bytes", quota.message)
    assert exit_code(report) == 0


async def test_offline_runs_only_local_checks(env: dict[str, str]) -> None:
    report = await diagnose({**env, "ZAI_CODING_BASE_URL": "http://127.0.0.1:9/x"}, offline=True, limits=FAST)
    sections = {check.section for check in report.checks}
    assert sections == {"config", "key", "codex", "local"}
    assert "not checked (--offline)" in render_text(report)
    assert exit_code(report) == 0


async def test_a_crashing_check_is_reported_not_raised(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(document: Any, now: datetime) -> list[Check]:
        raise KeyError("limits")

    monkeypatch.setattr("codexglm.doctor.remote.quota_checks", broken)
    monkeypatch.delenv("CODEXGLM_DEBUG", raising=False)
    async with open_mock_glm(handler=tools_or_text) as mock:
        report = await diagnose(pointed_at(env, mock), limits=FAST)
    checks = by_id(report)
    assert checks["endpoint.error"].status is Status.FAIL and "KeyError" in checks["endpoint.error"].message
    assert checks["codex.catalog"].status is Status.OK


# --------------------------------------------------------------------------- the key


async def test_key_never_appears_in_output_or_logs(env: dict[str, str]) -> None:
    secret = "zai-SECRET-key-value.9f8e7d6c"
    config = Path(env["CODEXGLM_CONFIG_DIR"])
    (config / "config.toml").write_text("log_bodies = true\n")
    outputs = []
    async with open_mock_glm(keys={secret: {"coding", "general"}}, handler=tools_or_text) as mock:
        for key in (secret, secret + "x"):  # accepted, then rejected
            report = await diagnose(pointed_at(env, mock, ZAI_API_KEY=key), limits=FAST)
            outputs += [render_text(report), render_json(report)]
    assert by_id(report)["endpoint.coding"].status is Status.FAIL
    assert all(secret not in text for text in outputs)
    assert "****7d6c" in outputs[0]
    logs = [p for name in ("CODEXGLM_STATE_DIR", "CODEXGLM_CACHE_DIR", "CODEXGLM_CONFIG_DIR") for p in Path(env[name]).rglob("*") if p.is_file()]
    assert any(p.name == "requests.jsonl" for p in logs)
    assert all(secret not in p.read_text(errors="replace") for p in logs)


async def test_key_file_permissions(env: dict[str, str]) -> None:
    key_file = Path(env["CODEXGLM_CONFIG_DIR"]) / "api_key"
    key_file.write_text("file-key-abcd1234\n")
    without_env = {k: v for k, v in env.items() if k != "ZAI_API_KEY"}
    key_file.chmod(0o644)
    loose = by_id(await diagnose(without_env, offline=True, limits=FAST))["key"]
    assert loose.status is Status.WARN and "0644" in loose.message and loose.fix == f"chmod 600 {key_file}"
    assert "key file" in loose.message and "****1234" in loose.message
    key_file.chmod(0o600)
    tight = by_id(await diagnose(without_env, offline=True, limits=FAST))["key"]
    assert tight.status is Status.OK and "file mode 0600" in tight.message


async def test_missing_key(env: dict[str, str]) -> None:
    report = await diagnose({k: v for k, v in env.items() if k != "ZAI_API_KEY"}, limits=FAST)
    checks = by_id(report)
    assert checks["key"].status is Status.FAIL and "ZAI_API_KEY" in checks["key"].message
    # The fix never puts the key on a command line (shell history): it is read without echo.
    assert "codexglm config set api_key -" in checks["key"].fix and "export" not in checks["key"].fix
    assert "codexglm login" in checks["key"].fix
    assert checks["endpoint.skipped"].status is Status.SKIP


async def test_quoted_key_is_flagged(env: dict[str, str]) -> None:
    check = by_id(await diagnose({**env, "ZAI_API_KEY": '"abc.defghijk"'}, offline=True, limits=FAST))["key"]
    assert check.status is Status.WARN and "quotes" in check.message


# --------------------------------------------------------------------------- Codex


@pytest.mark.parametrize(
    ("version", "status", "words"),
    [
        ("0.150.0", Status.OK, "version 0.150.0, verified"),
        ("0.171.0", Status.OK, "version 0.171.0, verified"),
        ("0.172.2", Status.WARN, "version 0.172.2, not yet verified"),
        ("0.149.9", Status.FAIL, "too old"),
    ],
)
async def test_codex_version_range(env: dict[str, str], tmp_path: Path, version: str, status: Status, words: str) -> None:
    codex = make_codex(tmp_path, version)
    check = by_id(await diagnose({**env, "CODEXGLM_CODEX": str(codex)}, offline=True, limits=FAST))["codex.install"]
    assert check.status is status and words in check.message
    if status is Status.FAIL:  # the same install command as the README and the launcher's refusal
        assert check.fix.endswith(f"{INSTALL_COMMAND}")
    elif status is Status.WARN:
        assert check.fix.endswith(f"{INSTALL_COMMAND}@{format_version(VERIFIED_CODEX)}")


async def test_codex_missing(env: dict[str, str], tmp_path: Path) -> None:
    checks = by_id(await diagnose({**env, "CODEXGLM_CODEX": str(tmp_path / "nope")}, offline=True, limits=FAST))
    assert checks["codex.install"].status is Status.FAIL
    assert checks["codex.install"].fix.startswith("Point CODEXGLM_CODEX at the codex executable")
    assert "codex.catalog" not in checks


async def test_codex_config_with_chat_wire_api(env: dict[str, str]) -> None:
    (Path(env["CODEX_HOME"]) / "config.toml").write_text(
        '[model_providers.old]\nname = "old"\nbase_url = "http://x/v1"\nwire_api = "chat"\n'
    )
    check = by_id(await diagnose(env, offline=True, limits=FAST))["codex.config"]
    assert check.status is Status.FAIL and 'wire_api = "chat"' in check.message
    assert 'Set wire_api = "responses" in [model_providers.old]' in check.fix


async def test_codex_config_refused_by_codex_itself(env: dict[str, str]) -> None:
    (Path(env["CODEX_HOME"]) / "config.toml").write_text("bad_field = 1\n")
    check = by_id(await diagnose(env, offline=True, limits=FAST))["codex.config"]
    assert check.status is Status.FAIL
    assert check.message.startswith("Codex cannot load its config: ") and "unknown field `bad_field`" in check.message
    assert "Stack backtrace" not in check.message


async def test_codex_config_that_is_not_toml(env: dict[str, str]) -> None:
    (Path(env["CODEX_HOME"]) / "config.toml").write_text("model = [\n")
    check = by_id(await diagnose(env, offline=True, limits=FAST))["codex.config"]
    assert check.status is Status.FAIL and "not valid TOML" in check.message


async def test_profile_files_are_linted_too(env: dict[str, str]) -> None:
    (Path(env["CODEX_HOME"]) / "work.config.toml").write_text('[model_providers.ollama]\nbase_url = "http://x"\n')
    check = by_id(await diagnose(env, offline=True, limits=FAST))["codex.config"]
    assert check.status is Status.WARN and "work.config.toml" in check.message and "ollama" in check.message


async def test_catalog_refused_by_codex(env: dict[str, str], tmp_path: Path) -> None:
    codex = make_codex(tmp_path, refuse_catalog=True)
    check = by_id(await diagnose({**env, "CODEXGLM_CODEX": str(codex)}, offline=True, limits=FAST))["codex.catalog"]
    assert check.status is Status.FAIL and "missing field `display_name`" in check.message
    assert check.fix.startswith("Delete ")


@pytest.mark.skipif(not REAL_CODEX.exists(), reason="the Codex under test is not installed (python -m tests.codex_cli --install)")
async def test_real_codex_loads_the_catalog_and_refuses_chat_wire_api(env: dict[str, str]) -> None:
    (Path(env["CODEX_HOME"]) / "config.toml").write_text(
        'profile = "work"\n[model_providers.old]\nname = "old"\nbase_url = "http://x/v1"\nwire_api = "chat"\n'
    )
    checks = by_id(await diagnose({**env, "CODEXGLM_CODEX": str(REAL_CODEX)}, offline=True, limits=FAST))
    assert checks["codex.install"].status is Status.OK and format_version(version_under_test()) in checks["codex.install"].message
    assert checks["codex.catalog"].status is Status.OK, checks["codex.catalog"].message
    config = checks["codex.config"]
    assert config.status is Status.FAIL and "wire_api" in config.message and "profile" in config.message


@pytest.mark.skipif(not REAL_CODEX.exists(), reason="the Codex under test is not installed (python -m tests.codex_cli --install)")
async def test_real_codex_without_codex_home(env: dict[str, str], tmp_path: Path) -> None:
    bare = {k: v for k, v in env.items() if k != "CODEX_HOME"} | {"CODEXGLM_CODEX": str(REAL_CODEX)}
    assert by_id(await diagnose(bare, offline=True, limits=FAST))["codex.config"].status is Status.OK
    missing = by_id(await diagnose({**bare, "CODEX_HOME": str(tmp_path / "gone")}, offline=True, limits=FAST))["codex.config"]
    assert missing.status is Status.FAIL and "that path does not exist" in missing.message


def test_lint_findings() -> None:
    path = Path("/home/u/.codex/config.toml")
    document = {
        "profile": "fast",
        "profiles": {"fast": {"model": "o3"}},
        "model_providers": {"openai": {"base_url": "http://x"}, "lmstudio": {}, "zai": {"wire_api": "chat"}, "ok": {"wire_api": "responses"}},
    }
    findings = lint_config(document, path)
    messages = " | ".join(f.message for f in findings)
    assert [f.status for f in findings].count(Status.FAIL) == 4
    assert "[model_providers.openai]" in messages and "[model_providers.lmstudio]" in messages
    assert '[model_providers.zai] has wire_api = "chat"' in messages and "model_providers.ok" not in messages
    assert any(f.status is Status.WARN and "[profiles.fast]" in f.message for f in findings)
    assert any("/home/u/.codex/fast.config.toml" in f.fix for f in findings)
    assert lint_config({"model": "o3"}, path) == []


def test_a_glm_model_left_in_the_users_codex_config_is_flagged_with_the_cleanup() -> None:
    path = Path("/home/u/.codex/config.toml")
    [finding] = lint_config({"model": "glm-4.7", "model_reasoning_effort": "high"}, path)
    assert finding.status is Status.WARN and 'model = "glm-4.7"' in finding.message
    assert "Remove the `model` and `model_reasoning_effort` lines from /home/u/.codex/config.toml" in finding.fix
    assert "codexglm config set default_model glm-4.7" in finding.fix
    [in_profile] = lint_profile({"model": "glm-5.1"}, Path("/home/u/.codex/work.config.toml"))
    assert "work.config.toml" in in_profile.message and "`model` line" in in_profile.fix


async def test_doctor_reports_a_left_glm_model(env: dict[str, str]) -> None:
    (Path(env["CODEX_HOME"]) / "config.toml").write_text('model = "glm-4.7"\n')
    check = by_id(await diagnose(env, offline=True, limits=FAST))["codex.config"]
    assert check.status is Status.WARN and "glm-4.7" in check.message and "Remove the `model` line" in check.fix


# --------------------------------------------------------------------------- local


async def test_unwritable_state_directory(env: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    check = by_id(await diagnose({**env, "CODEXGLM_STATE_DIR": str(blocker / "state")}, offline=True, limits=FAST))["local.dirs"]
    assert check.status is Status.FAIL and "state directory" in check.message
    assert "CODEXGLM_STATE_DIR" in check.fix


async def test_broken_codexglm_config(env: dict[str, str]) -> None:
    report = await diagnose({**env, "GLM_ZAI_ENDPOINT_MODE": "sideways"}, limits=FAST)
    checks = by_id(report)
    assert checks["config"].status is Status.FAIL and checks["config"].fix == "Correct or unset GLM_ZAI_ENDPOINT_MODE."
    assert "config has an error" in checks["endpoint.skipped"].message


# --------------------------------------------------------------------------- pure pieces


def _outcome(status: int | None = None, body: Any = None, **fields: Any) -> Outcome:
    error = classify_error(status, body) if status is not None else None
    return Outcome("http://z/api/x/chat/completions", 0.1, error=error, **fields)


def test_mode_check_recommends_what_works() -> None:
    plan = {"error": {"code": "1113", "message": "Insufficient balance"}}
    settings = Settings()
    coding = Endpoint("coding", _outcome(429, plan), in_use=True)
    general = Endpoint("general", _outcome(), in_use=False)
    check = mode_check([coding, general], settings, {"endpoint_mode": "env GLM_ZAI_ENDPOINT_MODE"})
    assert check.status is Status.FAIL and check.fix == "export GLM_ZAI_ENDPOINT_MODE=base-only"
    both = mode_check([Endpoint("coding", _outcome(), True), Endpoint("general", _outcome(), True)], settings.replace(endpoint_mode="auto"), {})
    assert both.status is Status.OK and "which accept this key" in both.message
    dead = Endpoint("coding", _outcome(network="DNS lookup failed"), True)
    assert mode_check([dead, Endpoint("general", _outcome(network="x"), False)], settings, {}).status is Status.SKIP


def test_quota_windows() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    reset = int((now + timedelta(hours=2, minutes=30)).timestamp() * 1000)
    data = {
        "limits": [
            {"type": "TOKENS_LIMIT", "unit": 3, "number": 5, "percentage": 85, "nextResetTime": reset},
            {"type": "TIME_LIMIT", "unit": 5, "number": 1, "usage": 100, "currentValue": 100, "remaining": 0,
             "percentage": 100, "nextResetTime": reset},
            {"type": "TOKENS_LIMIT", "unit": 6, "number": 1, "percentage": 3},
        ],
        "level": "pro",
    }
    answer = {"success": True, "data": data}
    tokens, tools, weekly = quota_checks(answer, now)
    assert tokens.title == "5-hour tokens" and tokens.status is Status.WARN
    assert "85% used, resets " in tokens.message and "(in 2h 30m)" in tokens.message and tokens.message.endswith("; pro plan")
    assert tools.title == "monthly MCP tool calls" and tools.status is Status.WARN and "100 / 100 used" in tools.message
    assert weekly.title == "weekly tokens" and weekly.status is Status.OK and weekly.message == "3% used"


def test_network_failures_are_named() -> None:
    def wrapped(cause: BaseException) -> httpx.ConnectError:
        error = httpx.ConnectError("connect failed")
        error.__cause__ = cause
        return error

    assert describe_transport_error(wrapped(socket.gaierror(-2, "Name or service not known"))) == "connection failed (DNS lookup failed)"
    cert = ssl.SSLCertVerificationError("verify failed")
    cert.verify_message = "self-signed certificate"
    assert describe_transport_error(wrapped(cert)) == "connection failed (TLS certificate not trusted (self-signed certificate))"
    assert describe_transport_error(wrapped(ssl.SSLError("handshake"))) == "connection failed (TLS handshake failed)"
    group = OSError("all attempts failed")
    group.__cause__ = ExceptionGroup("attempts", [ConnectionRefusedError(111, "refused")])
    assert describe_transport_error(wrapped(group)) == "connection failed (connection refused)"
    assert describe_transport_error(httpx.ConnectTimeout("slow")) == "connection timed out (slow)"
    assert describe_transport_error(httpx.ReadTimeout("slow"), "GLM") == "no data from GLM within the read timeout (slow)"


def _stream(*items: dict[str, Any], completed: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [{"type": "response.created", "response": {"id": "r1"}}]
    for item in items:
        events += [{"type": "response.output_item.added", "item": item}, {"type": "response.output_item.done", "item": item}]
    events.append({"type": "response.completed", "response": completed if completed is not None else {"id": "r1"}})
    return events


def test_stream_shape_rules() -> None:
    ping = {"type": "function_call", "call_id": "c1", "name": NAMESPACED, "namespace": NAMESPACE, "arguments": '{"text":"ok"}'}
    good = inspect_events(_stream(ping, {"type": "message", "content": [{"type": "output_text", "text": "Ready."}]}))
    assert good.problems == [] and [call.namespace for call in good.calls] == [NAMESPACE] and good.text
    status, message, _ = verdict(good, {"proxy_ms": 3.2})
    assert status is Status.OK and message == "text and 1 tool call (namespaced) came back in Codex's shape; the proxy adds 3 ms"

    flattened = inspect_events(_stream({**ping, "namespace": None, "name": flat_name(NAMESPACED, NAMESPACE)}))
    assert "matches no declared tool" in flattened.problems[0]
    assert verdict(flattened, {})[0] is Status.FAIL
    no_id = inspect_events(_stream(completed={"status": "completed"}))
    assert no_id.problems == ["response.completed has no response.id (Codex fails to parse it)"]
    early = inspect_events([{"type": "response.created", "response": {}}, {"type": "response.output_text.delta", "delta": "x"}])
    assert early.problems == ["a response.output_text.delta came before any output_item.added (Codex drops it)",
                              "the stream ended without a terminal event (response.completed)"]
    failed = [{"type": "response.created", "response": {}},
              {"type": "response.failed", "response": {"error": {"code": "invalid_prompt", "message": "Z.ai rejected the API key"}}}]
    status, message, _ = verdict(inspect_events(failed), {})
    assert status is Status.FAIL and message.endswith("Z.ai rejected the API key")
    text_only = inspect_events(_stream({"type": "message", "content": [{"type": "output_text", "text": "hi"}]}))
    assert verdict(text_only, {})[0] is Status.WARN


# --------------------------------------------------------------------------- rendering


def _report() -> Report:
    return Report(
        (
            Check("local.port", "loopback port", Status.OK, "127.0.0.1:1 can be bound"),
            Check("key", "API key", Status.WARN, "key file: ****abcd; mode 0644", "chmod 600 /k"),
            Check("endpoint.coding", "Coding Plan endpoint", Status.FAIL, "key rejected", "Check ZAI_API_KEY.", {"latency_ms": 12.5}),
            Check("quota", "usage windows", Status.SKIP, "not shown"),
        ),
        elapsed=1.25,
    )


def test_text_rendering_is_aligned_and_grouped() -> None:
    lines = render_text(_report()).splitlines()
    assert lines[:3] == [lines[0], "", "codexglm"] and lines[0].startswith("codexglm doctor ")
    assert lines[3].startswith("  ⚠ API key ") and lines[5].startswith("  ✓ loopback port ")
    assert lines[6] == "Z.ai" and lines[7].startswith("  ✗ Coding Plan endpoint ")
    column = lines[3].index("key file")
    assert [line.index(text) for line, text in zip(lines[5:10:2], ("127.0.0.1", "key rejected", "not shown"))] == [column] * 3
    assert lines[4] == " " * column + "fix: chmod 600 /k" and lines[8] == " " * column + "fix: Check ZAI_API_KEY."
    assert not any("\x1b[" in line for line in lines)
    assert lines[-1].startswith("1 failed, 1 warning (1.2 s).") and "1 skipped" in lines[-1]


def test_colour_only_on_a_tty_without_no_color() -> None:
    class Terminal:
        encoding = "utf-8"

        def __init__(self, tty: bool) -> None:
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    assert terminal_style(Terminal(True), {}).colour
    assert not terminal_style(Terminal(True), {"NO_COLOR": "1"}).colour
    assert not terminal_style(Terminal(False), {}).colour
    assert "\x1b[31m✗\x1b[0m" in render_text(_report(), Style(colour=True))
    ascii_only = type("Ascii", (), {"encoding": "ascii", "isatty": lambda self: False})()
    assert not terminal_style(ascii_only, {}).unicode
    assert "  XX Coding Plan endpoint" in render_text(_report(), Style(unicode=False))


def test_wrapping_keeps_the_message_column() -> None:
    long = Report((Check("key", "API key", Status.FAIL, "word " * 40, "fix " * 30),))
    lines = render_text(long, Style(width=60)).splitlines()
    body = [line for line in lines if line.startswith("  ")]
    assert all(len(line) <= 60 for line in body)
    assert all(line.startswith(" " * 13) for line in body[1:])


def test_json_document() -> None:
    document = json.loads(render_json(_report()))
    assert document["ok"] is False and document["exit_code"] == 1
    assert [c["id"] for c in document["checks"]] == ["key", "local.port", "endpoint.coding", "quota"]
    coding = document["checks"][2]
    assert coding == {"id": "endpoint.coding", "title": "Coding Plan endpoint", "status": "fail",
                      "message": "key rejected", "fix": "Check ZAI_API_KEY.", "timings": {"latency_ms": 12.5}}
    assert document["checks"][3]["fix"] is None


def test_exit_codes_and_redaction() -> None:
    warn_only = Report((Check("key", "API key", Status.WARN, "m", "f"),))
    assert exit_code(warn_only) == 0 and exit_code(_report()) == 1
    leaked = Report((Check("key", "API key", Status.FAIL, "sent sk-123456789 upstream", "rotate sk-123456789"),))
    cleaned = leaked.redacted(["sk-123456789"]).checks[0]
    assert "sk-123456789" not in cleaned.message + cleaned.fix and "****6789" in cleaned.message


# --------------------------------------------------------------------------- the command


def _use_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in [n for n in os.environ if n.startswith(("ZAI_", "GLM_", "CODEXGLM_"))]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_doctor_usage_errors_come_from_the_cli_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--bogus"]) == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
    assert main(["doctor", "--glm-region", "mars"]) == 2


def test_run_doctor_offline_json(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _use_env(monkeypatch, env)
    monkeypatch.setenv("NO_COLOR", "1")
    assert main(["doctor", "--offline", "--json", "--glm-endpoint-mode", "auto"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["offline"] is True and document["ok"] is True
    assert "endpoint_mode auto" in next(c for c in document["checks"] if c["id"] == "config")["message"]
    monkeypatch.delenv("ZAI_API_KEY")
    assert run_doctor({}, json_output=False, offline=True) == 1
    assert "✗ API key" in capsys.readouterr().out


def test_auto_mode_whose_first_endpoint_works_does_not_claim_a_fallback() -> None:
    settings = Settings(endpoint_mode="auto")
    coding = Endpoint("coding", _outcome(), in_use=True)
    general = Endpoint("general", _outcome(network="connection refused"), in_use=True)
    check = mode_check([coding, general], settings, {})
    assert check.status is Status.OK
    assert check.message == "auto uses the Coding Plan endpoint first, which accepts this key"
    plan = {"error": {"code": "1113", "message": "Insufficient balance"}}
    refused_first = mode_check([Endpoint("coding", _outcome(429, plan), True), Endpoint("general", _outcome(), True)],
                               settings.replace(key_type="standard"), {})
    assert "falls back to the pay-as-you-go endpoint" in refused_first.message


# --------------------------------------------------------------------------- other providers


@pytest.fixture
def fake_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    from codexglm import providers
    from tests.test_providers import FAKE

    monkeypatch.setitem(providers._BUILT_IN, FAKE.name, FAKE)


@pytest.mark.usefixtures("fake_provider")
async def test_every_provider_with_a_key_is_checked(env: dict[str, str]) -> None:
    from tests.test_providers import FAKE, KEY

    async with open_mock_glm(handler=tools_or_text) as glm, open_mock_glm(keys={KEY: {"general"}}, models=FAKE.models) as fake:
        setup = pointed_at(env, glm, FAKECO_API_KEY=KEY, FAKECO_BASE_URL=fake.general_url)
        report = await diagnose(setup, limits=FAST)
        asked = [(r.method, r.path.rsplit("/", 1)[1], r.key) for r in fake.requests]
    check = by_id(report)["providers.fake"]
    assert check.status is Status.OK, check.message
    assert f"{len(FAKE.models)} models listed" in check.message and "fake/fm-large answered" in check.message
    assert check.title == "FakeCo (fake)" and "Other providers" in render_text(report)
    assert sorted(asked) == [("GET", "models", KEY), ("POST", "completions", KEY)]
    assert KEY not in render_text(report)


@pytest.mark.usefixtures("fake_provider")
async def test_another_providers_refused_key_is_a_failure_with_its_fix(env: dict[str, str]) -> None:
    from tests.test_providers import FAKE, KEY

    async with open_mock_glm(handler=tools_or_text) as glm, open_mock_glm(keys={}, models=FAKE.models) as fake:
        report = await diagnose(pointed_at(env, glm, FAKECO_API_KEY=KEY, FAKECO_BASE_URL=fake.general_url), limits=FAST)
    check = by_id(report)["providers.fake"]
    assert check.status is Status.FAIL and "127.0.0.1" in check.message
    assert check.message.endswith(f"(API key ****{KEY[-4:]} from $FAKECO_API_KEY)")
    assert exit_code(report) == 1 and KEY not in render_text(report)



@pytest.mark.usefixtures("fake_provider")
def test_a_mapping_onto_another_provider_is_not_checked_against_glms_list() -> None:
    uses = models_in_use(Settings(model_map={"gpt-5": "fake/fm-small", "gpt-5-mini": "glm-4.7"}))
    assert [use.model for use in uses] == ["glm-5.3", "glm-4.7"]


@pytest.mark.parametrize("key_type", ["compatible", "coding-plan"])
def test_paid_fallback_is_flagged_only_where_it_can_spend_cash(key_type: str) -> None:
    from codexglm.doctor.remote import key_type_check

    plan = {"success": True, "data": {"limits": [], "level": "pro"}}
    endpoints = [Endpoint("coding", _outcome(), True), Endpoint("general", _outcome(), True)]
    settings = Settings(endpoint_mode="auto", paid_fallback=True, key_type=key_type)
    check = key_type_check(endpoints, Outcome("q", 0.01, document=plan), settings, {})
    assert (check.status is Status.WARN) is (key_type == "compatible"), check.message


@pytest.mark.parametrize(("mode", "status"), [("auto", Status.WARN), ("coding-only", Status.OK)])
def test_an_unrecorded_key_type_matters_only_to_auto_mode(mode: str, status: Status) -> None:
    from codexglm.doctor.remote import key_type_check

    plan = {"success": True, "data": {"limits": [], "level": "pro"}}
    endpoints = [Endpoint("coding", _outcome(), True), Endpoint("general", _outcome(), mode == "auto")]
    check = key_type_check(endpoints, Outcome("q", 0.01, document=plan), Settings(endpoint_mode=mode), {})
    assert check.status is status and "not recorded" in check.message
    assert ("codexglm login" in check.fix) is (status is Status.WARN)
