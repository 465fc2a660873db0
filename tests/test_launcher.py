"""codexglm.launcher: finding codex, the -c profile, and the process lifecycle.

Lifecycle tests run `python -m codexglm` with tests/fake_codex.py as `codex` and the real
proxy; each checks the exit status, that codex and the proxy are gone, and that no
temporary file is left behind.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomlkit
import trio

from codexglm import launcher
from codexglm.codex import version
from codexglm.codex.argv import attached_images, chosen_model, talks_to_model
from codexglm.codex.overrides import PROVIDER_ID, TOKEN_ENV, codex_config_toml, codex_overrides
from codexglm.codex.version import INSTALL_COMMAND, CodexError, CodexInfo, find_codex, parse_version
from codexglm.launcher import LaunchError, bind_loopback, exit_status
from codexglm.settings import Settings
from tests.launcher_support import CURRENT, ROOT, ZYGOTE, Rig, alive, install_npm_layout, read_line, session_members, write_fake
from tests.mockglm import DEFAULT_KEY, open_mock_glm, text_reply

# --- versions and finding codex ---------------------------------------------------------------


def test_parse_version() -> None:
    assert parse_version("codex-cli 0.169.0") == (0, 169, 0)
    assert parse_version("codex-cli 0.170.0-alpha.2\n") == (0, 170, 0)
    assert parse_version("nonsense") is None


def test_find_codex_on_path_runs_version(tmp_path: Path) -> None:
    fake = write_fake(tmp_path / "bin" / "codex")
    info = find_codex({"PATH": str(fake.parent), "FAKE_CODEX_VERSION": "0.169.3"})
    assert info == CodexInfo(str(fake), (0, 169, 0))  # the fake reads its env, not ours


def test_find_codex_reads_npm_package_without_running_it(tmp_path: Path) -> None:
    link = install_npm_layout(tmp_path, version="0.169.7")
    real = Path(os.path.realpath(link))
    real.write_text("#!/bin/sh\nexit 99\n")  # would fail if it were run
    assert find_codex({"PATH": str(link.parent)}) == CodexInfo(str(link), (0, 169, 7))


def test_codexglm_codex_overrides_path(tmp_path: Path) -> None:
    fake = write_fake(tmp_path / "elsewhere" / "my-codex")
    assert find_codex({"PATH": "", "CODEXGLM_CODEX": str(fake)}).path == str(fake)
    assert find_codex({"PATH": str(fake.parent), "CODEXGLM_CODEX": "my-codex"}).path == str(fake)
    with pytest.raises(CodexError, match="CODEXGLM_CODEX=/nonexistent is not an executable"):
        find_codex({"CODEXGLM_CODEX": "/nonexistent"})


def test_missing_codex_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(CodexError) as caught:
        find_codex({"PATH": str(tmp_path)})
    assert INSTALL_COMMAND in str(caught.value)


def test_old_codex_is_refused_with_the_install_command(tmp_path: Path) -> None:
    link = install_npm_layout(tmp_path, version="0.149.9")
    with pytest.raises(CodexError) as caught:
        find_codex({"PATH": str(link.parent)})
    assert "0.149.9" in str(caught.value) and INSTALL_COMMAND in str(caught.value)


def test_the_floor_itself_is_supported(tmp_path: Path) -> None:
    link = install_npm_layout(tmp_path, version=version.format_version(version.MIN_CODEX))
    assert find_codex({"PATH": str(link.parent)}).version == version.MIN_CODEX


def test_unreadable_version_is_an_error(tmp_path: Path) -> None:
    broken = tmp_path / "bin" / "codex"
    broken.parent.mkdir()
    broken.write_text("#!/bin/sh\necho oops\n")
    broken.chmod(0o755)
    with pytest.raises(CodexError, match="cannot tell the Codex version"):
        find_codex({"PATH": str(broken.parent)})


def test_verified_codex_gets_no_note(tmp_path: Path) -> None:
    for known in (version.MIN_CODEX, (0, 169, 0), version.VERIFIED_CODEX):
        assert version.newer_version_note(CodexInfo("codex", known), tmp_path) is None
    assert not (tmp_path / version.SEEN_FILE).exists()


def test_newer_codex_gets_one_note_per_version(tmp_path: Path) -> None:
    newer = CodexInfo("codex", (0, 172, 1))
    state = tmp_path / "state"
    note = version.newer_version_note(newer, state)
    assert note is not None and "0.172.1" in note and "\n" not in note
    assert version.newer_version_note(newer, state) is None  # remembered
    assert version.newer_version_note(CodexInfo("codex", (0, 173, 0)), state) is not None


def test_unwritable_state_dir_repeats_the_note_but_never_fails(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    newer = CodexInfo("codex", (0, 172, 0))
    assert version.newer_version_note(newer, blocked) is not None
    assert version.newer_version_note(newer, blocked) is not None


# --- the codex command line ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "model"),
    [
        (["exec", "hi"], None),
        (["-m", "glm-5"], "glm-5"),
        (["exec", "--model", "glm-4.7", "hi"], "glm-4.7"),
        (["--model=glm-5.3"], "glm-5.3"),
        (["-mglm-5"], "glm-5"),
        (["-c", 'model="glm-5"'], "glm-5"),
        (["--config", "model = 'glm-5'"], "glm-5"),
        (["-c", "model_provider=x", "-c", "model_reasoning_effort=high"], None),
        (["--config=model=glm-5"], "glm-5"),
        (["exec", "--", "-m", "glm-5"], None),
        (["--json"], None),
    ],
)
def test_chosen_model(args: list[str], model: str | None) -> None:
    assert chosen_model(args) == model


def parse_overrides(args: list[str]) -> dict[str, Any]:
    """codexglm's root options: --no-daemon (if there), then -c KEY=VALUE applied the way
    Codex does (VALUE is TOML)."""
    args = args[1:] if args[:1] == ["--no-daemon"] else args
    assert args[::2] == ["-c"] * (len(args) // 2)
    merged: dict[str, Any] = {}
    for override in args[1::2]:
        key, _, value = override.partition("=")
        merged[key] = tomlkit.parse(f"v = {value}").unwrap()["v"]
    return merged


def profile(argv: list[str]) -> dict[str, Any]:
    """The leading -c overrides codexglm put before the user's arguments."""
    count = 1  # --no-daemon
    while argv[count : count + 1] == ["-c"]:
        count += 2
    return parse_overrides(argv[:count])


def test_overrides_define_a_private_provider(tmp_path: Path) -> None:
    catalog = tmp_path / 'odd "dir"' / "catalog.json"
    values = parse_overrides(codex_overrides(40123, Settings(), catalog=catalog, model="glm-5.1"))
    assert values["model_provider"] == PROVIDER_ID
    assert PROVIDER_ID not in ("openai", "ollama", "lmstudio")
    provider = values[f"model_providers.{PROVIDER_ID}"]
    assert provider["name"] != "OpenAI"
    assert provider["base_url"] == "http://127.0.0.1:40123/v1"
    assert provider["env_key"] == TOKEN_ENV
    assert provider["wire_api"] == "responses"
    assert provider["supports_websockets"] is False
    assert provider["stream_idle_timeout_ms"] >= 6 * Settings().keepalive_interval * 1000
    assert 0 <= provider["request_max_retries"] <= 2 and 0 <= provider["stream_max_retries"] <= 2
    assert values["model_catalog_json"] == str(catalog)
    assert values["model"] == "glm-5.1"


def test_overrides_leave_model_and_catalog_out_when_not_given() -> None:
    values = parse_overrides(codex_overrides(1, Settings(), catalog=None, model=None))
    assert "model" not in values and "model_catalog_json" not in values


def test_config_toml_block_defines_the_same_provider_as_the_overrides(tmp_path: Path) -> None:
    catalog = tmp_path / 'odd "dir"' / "catalog.json"
    overrides = parse_overrides(codex_overrides(40123, Settings(), catalog=catalog, model="glm-4.7"))
    block = tomlkit.parse(codex_config_toml("http://127.0.0.1:40123/v1", Settings(), catalog=catalog, model="glm-4.7"))
    assert block["model_providers"][PROVIDER_ID] == overrides[f"model_providers.{PROVIDER_ID}"]
    assert {key: block[key] for key in ("model_provider", "model_catalog_json", "model")} == {
        key: overrides[key] for key in ("model_provider", "model_catalog_json", "model")}


def test_exit_status_like_a_shell() -> None:
    assert exit_status(0) == 0 and exit_status(3) == 3
    assert exit_status(-signal.SIGTERM) == 143 and exit_status(-signal.SIGKILL) == 137


def test_busy_port_is_a_launch_error() -> None:
    with bind_loopback() as taken:
        port = taken.getsockname()[1]
        with pytest.raises(LaunchError, match=f"cannot listen on 127.0.0.1:{port}"):
            bind_loopback(port)


def test_scratch_dir_is_private_and_lazy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    scratch = launcher.ScratchDir()
    scratch.remove()  # nothing created yet
    assert list(tmp_path.iterdir()) == []
    path = scratch()
    assert scratch() == path and (path.stat().st_mode & 0o777) == 0o700
    (path / "file").write_text("x")
    scratch.remove()
    assert list(tmp_path.iterdir()) == []


# --- in-process: a proxy that fails takes codex down ----------------------------------------------


def live_children() -> list[int]:
    """This process's children that are still running (not zombies)."""
    pids = [int(pid) for task in Path("/proc/self/task").iterdir() for pid in (task / "children").read_text().split()]
    return [pid for pid in pids if alive(pid)]


def test_proxy_failure_stops_codex(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken_serve(settings: Settings, token: str, *, sock: socket.socket, ledger: object) -> None:
        await trio.sleep(1)  # codex is up and logging by then
        raise RuntimeError("boom\nsecond line")

    stub = types.ModuleType("codexglm.server")
    stub.serve = broken_serve  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "codexglm.server", stub)
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("FAKE_CODEX_LOG", str(log))
    monkeypatch.setenv("FAKE_CODEX_SCRIPT", "sleep:30")
    codex = CodexInfo(str(write_fake(tmp_path / "codex")), (0, 169, 0))
    cleaned: list[bool] = []
    with pytest.raises(LaunchError, match=r"^the proxy failed: RuntimeError: boom$"):
        launcher.launch(codex, ["exec", "hi"], Settings(), catalog=None, capabilities=CURRENT,
                        cleanup=lambda: cleaned.append(True))
    assert live_children() == []
    assert {"event": "signal", "signal": "SIGTERM"} in [json.loads(line) for line in log.read_text().splitlines()]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_proxy_that_cannot_import_stops_codex(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "codexglm.server", None)  # import raises ImportError
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("FAKE_CODEX_LOG", str(log))
    monkeypatch.setenv("FAKE_CODEX_SCRIPT", "sleep:30")
    codex = CodexInfo(str(write_fake(tmp_path / "codex")), (0, 169, 0))
    with pytest.raises(LaunchError, match="^the proxy cannot start: ModuleNotFoundError: "):
        launcher.launch(codex, [], Settings(), catalog=None, capabilities=CURRENT)
    assert live_children() == []


# --- subprocess lifecycle with the real proxy -------------------------------------------------------


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path)
    yield rig
    for event in rig.events("start"):  # never leak a fake codex, even when a test fails
        if alive(event["pid"]):
            os.kill(event["pid"], signal.SIGKILL)


@pytest.mark.parametrize("code", [0, 1, 3, 42])
def test_exit_code_is_codexs(rig: Rig, code: int) -> None:
    done = rig.run("exec", "hi", FAKE_CODEX_SCRIPT=f"exit:{code}")
    assert done.returncode == code, done.stderr
    assert done.stderr == ""


def test_codex_gets_the_users_arguments_after_the_profile(rig: Rig) -> None:
    args = ["--glm-model", "glm-4.7", "exec", "--json", "-c", "model_reasoning_effort=high", "--", "--glm-literal"]
    proc = rig.start(*args, FAKE_CODEX_SCRIPT="exit:0")
    proc.communicate(timeout=60)
    start = rig.wait_for("start")
    argv = start["argv"]
    user = ["exec", "--json", "-c", "model_reasoning_effort=high", "--", "--glm-literal"]
    assert argv[-len(user):] == user
    values = parse_overrides(argv[: -len(user)])
    assert values == profile(argv)
    assert values["model"] == "glm-4.7"
    assert Path(values["model_catalog_json"]).parent == rig.tmp / "cache"
    token = start["env"][TOKEN_ENV]
    assert len(token) >= 32 and token not in json.dumps(values)
    # The Z.ai key stays with codexglm: shell commands the agent runs inherit codex's env.
    assert "ZAI_API_KEY" not in start["env"]
    rig.assert_clean(proc.pid)


def test_users_model_is_not_overridden(rig: Rig) -> None:
    rig.run("-m", "glm-5", "hello", FAKE_CODEX_SCRIPT="exit:0")
    argv = rig.wait_for("start")["argv"]
    assert not any(arg.startswith("model=") for arg in argv)
    catalog = json.loads(Path(profile(argv)["model_catalog_json"]).read_text())
    assert "glm-5" in [model["slug"] for model in catalog["models"]]


def test_first_request_waits_for_the_proxy(rig: Rig) -> None:
    # The fake sends its request as soon as it starts, long before trio and the proxy
    # are imported; the bound socket queues it.
    for _ in range(3):
        rig.log.unlink(missing_ok=True)
        done = rig.run(FAKE_CODEX_SCRIPT="request,exit:0")
        assert done.returncode == 0, done.stderr
        request = rig.wait_for("request")
        assert request["status"] == 200, request
        assert "glm-5.1" in request["body"]


async def test_codex_turn_reaches_glm_through_the_proxy(rig: Rig) -> None:
    async with open_mock_glm() as mock:
        mock.enqueue(text_reply("Hello from GLM"))
        env = {**rig.env, "ZAI_API_KEY": DEFAULT_KEY, "ZAI_CODING_BASE_URL": mock.coding_url,
               "FAKE_CODEX_SCRIPT": "request,exit:0", "FAKE_CODEX_PATH": "responses"}
        done = await trio.run_process(rig.command("exec", "hi"), env=env, cwd=rig.tmp, capture_stdout=True,
                                      capture_stderr=True, check=False)
    assert done.returncode == 0, done.stderr
    request = rig.wait_for("request")
    assert request["status"] == 200
    assert "Hello from GLM" in request["body"] and "response.completed" in request["body"]


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGQUIT, 131)])
def test_signals_to_codexglm_reach_codex(rig: Rig, sig: signal.Signals, status: int) -> None:
    rig.env["FAKE_CODEX_IGNORE"] = "QUIT"  # the fake has no handler for SIGQUIT: default kills it
    proc = rig.start(FAKE_CODEX_SCRIPT="request,sleep:30")
    rig.wait_for("request")
    proc.send_signal(sig)
    proc.communicate(timeout=20)
    assert proc.returncode == status
    if sig != signal.SIGQUIT:
        assert rig.events("signal")[-1]["signal"] == sig.name
    rig.assert_clean(proc.pid)


def test_codex_that_ignores_sigterm_is_killed(rig: Rig) -> None:
    proc = rig.start(FAKE_CODEX_SCRIPT="request,sleep:30", FAKE_CODEX_IGNORE="TERM")
    rig.wait_for("request")
    proc.terminate()
    proc.communicate(timeout=20)
    assert proc.returncode == 137
    assert rig.events("signal")[-1]["signal"] == "SIGTERM"
    rig.assert_clean(proc.pid)


def test_sigkill_of_codexglm_takes_codex_down(rig: Rig) -> None:
    proc = rig.start(FAKE_CODEX_SCRIPT="request,sleep:30")
    rig.wait_for("request")
    proc.kill()
    proc.communicate(timeout=20)
    assert proc.returncode == -signal.SIGKILL
    rig.wait_for("signal")  # PR_SET_PDEATHSIG delivered SIGTERM
    rig.assert_clean(proc.pid)


def test_codex_killed_by_sigkill(rig: Rig) -> None:
    done = rig.run(FAKE_CODEX_SCRIPT="request,kill:KILL")
    assert done.returncode == 137
    start = rig.wait_for("start")
    assert not alive(start["pid"])
    rig.assert_clean(start["ppid"])


def test_ctrl_c_goes_to_codex_and_the_proxy_survives(rig: Rig) -> None:
    proc = rig.start(FAKE_CODEX_SCRIPT="request,wait-signal,request,exit:5", FAKE_CODEX_IGNORE="INT")
    rig.wait_for("request")
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    proc.communicate(timeout=20)
    assert proc.returncode == 5
    assert [e["signal"] for e in rig.events("signal")] == ["SIGINT"]
    assert [e["status"] for e in rig.events("request")] == [200, 200]
    rig.assert_clean(proc.pid)


def test_ctrl_c_that_ends_codex_ends_codexglm_like_it(rig: Rig) -> None:
    proc = rig.start(FAKE_CODEX_SCRIPT="request,sleep:30")
    rig.wait_for("request")
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and err == ""
    rig.assert_clean(proc.pid)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ZAI_API_KEY": ""}, "no Z.ai API key: run `codexglm login`"),  # the first run points at login
        ({"PATH": "/usr/bin:/bin"}, INSTALL_COMMAND),
        ({"CODEXGLM_CODEX": "/nonexistent/codex"}, "is not an executable"),
    ],
)
def test_startup_failures_are_one_line(rig: Rig, change: dict[str, str], message: str) -> None:
    done = rig.run("exec", "hi", **change)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("codexglm: ")
    assert message in done.stderr
    assert rig.events() == []


def test_busy_port_is_one_line(rig: Rig) -> None:
    with bind_loopback() as taken:
        done = rig.run("--glm-port", str(taken.getsockname()[1]), "exec", "hi")
    assert done.returncode == 1
    assert done.stderr.startswith("codexglm: cannot listen on 127.0.0.1:") and done.stderr.count("\n") == 1


def test_broken_bundled_catalog_warns_and_uses_the_shipped_template(rig: Rig) -> None:
    done = rig.run("exec", "hi", FAKE_CODEX_SCRIPT="exit:0", FAKE_CODEX_BUNDLED_FAIL="1")
    assert done.returncode == 0
    assert done.stderr.startswith("codexglm: warning: `codex debug models --bundled` failed")
    assert len(done.stderr.splitlines()) == 1 and "template codexglm ships" in done.stderr
    catalog = Path(profile(rig.wait_for("start")["argv"])["model_catalog_json"])
    assert catalog.name.endswith("-shipped.json") and json.loads(catalog.read_text())["models"]


def test_unwritable_cache_uses_a_temporary_catalog_that_is_removed(rig: Rig) -> None:
    blocked = rig.tmp / "blocked"
    blocked.write_text("")
    done = rig.run(FAKE_CODEX_SCRIPT="exit:0", CODEXGLM_CACHE_DIR=str(blocked))
    assert done.returncode == 0, done.stderr
    catalog = Path(profile(rig.wait_for("start")["argv"])["model_catalog_json"])
    assert catalog.parent.parent == rig.temp
    assert not catalog.exists() and list(rig.temp.iterdir()) == []


# --- many cheap runs from a warm fork server ---------------------------------------------------

def test_no_orphans_in_100_randomized_runs(rig: Rig) -> None:
    grace = 0.3
    rng = random.Random(20261123)
    zygote = subprocess.Popen(
        [sys.executable, "-c", ZYGOTE, str(grace)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, bufsize=0,
    )
    assert zygote.stdin is not None and zygote.stdout is not None
    endings = ["exit", "codex-killed", "term", "hup", "kill", "ctrl-c"]
    try:
        for run in range(100):
            ending = rng.choice(endings)
            code = rng.choice([0, 1, 2, 9, 255])
            ignore = rng.choice(["", "INT", "TERM"]) if ending in ("term", "ctrl-c") else ""
            script = {
                "exit": f"sleep:{rng.uniform(0, 0.05):.3f},exit:{code}",
                "codex-killed": f"sleep:{rng.uniform(0, 0.05):.3f},kill:KILL",
            }.get(ending, f"sleep:{rng.uniform(0.1, 0.25):.3f},exit:{code}")
            log = rig.tmp / f"run{run}.jsonl"
            env = {**rig.env, "FAKE_CODEX_SCRIPT": script, "FAKE_CODEX_IGNORE": ignore, "FAKE_CODEX_LOG": str(log)}
            request = {"argv": ["exec", f"run {run}"], "env": env, "output": str(rig.tmp / "zygote.out")}
            zygote.stdin.write((json.dumps(request) + "\n").encode())
            pid = read_line(zygote.stdout, 30)["pid"]
            time.sleep(rng.uniform(0, 0.1))  # hits every phase: config, spawn, import, serving
            if ending in ("term", "hup", "kill"):
                sig = {"term": signal.SIGTERM, "hup": signal.SIGHUP, "kill": signal.SIGKILL}[ending]
                os.kill(pid, sig)
            elif ending == "ctrl-c":
                os.killpg(pid, signal.SIGINT)
            status = read_line(zygote.stdout, 30)["status"]
            started = log.exists() and '"start"' in log.read_text()
            context = f"run {run}: {ending} ignore={ignore!r} status={status} codex started={started}"
            allowed = {
                "exit": {code},
                "codex-killed": {137},
                "term": {-signal.SIGTERM, 143, 137, code},
                "hup": {-signal.SIGHUP, 129, code},
                "kill": {-signal.SIGKILL},
                # Python dies with status 1 when Ctrl-C hits it while it is still starting.
                "ctrl-c": {130, code} if started else {130, 1},
            }[ending]
            assert status in allowed, context
            deadline = time.monotonic() + 3
            while session_members(pid) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert session_members(pid) == [], context
            assert list(rig.temp.iterdir()) == [], context
    finally:
        zygote.stdin.close()
        zygote.wait(timeout=30)


@pytest.mark.parametrize(
    ("args", "needs_key"),
    [([], True), (["exec", "hi"], True), (["resume", "--last"], True), (["--help"], False), (["exec", "-h"], False),
     (["--version"], False), (["login"], False), (["-c", "x=1", "features", "list"], False), (["review"], True)],
)
def test_only_model_sessions_need_a_key(args: list[str], needs_key: bool) -> None:
    assert talks_to_model(args) is needs_key


def test_help_runs_without_a_key(rig: Rig) -> None:
    done = rig.run("--help", ZAI_API_KEY="", FAKE_CODEX_SCRIPT="exit:0")
    assert done.returncode == 0, done.stderr
    assert "--help" in rig.wait_for("start")["argv"]


def test_a_broken_config_file_does_not_block_codex_help(rig: Rig) -> None:
    (rig.tmp / "config").mkdir(exist_ok=True)
    (rig.tmp / "config" / "config.toml").write_text('region = "mars"\n')
    done = rig.run("--help", FAKE_CODEX_SCRIPT="exit:0")
    assert done.returncode == 0 and "ignoring the config file" in done.stderr
    broken = rig.run("exec", "hi", FAKE_CODEX_SCRIPT="exit:0")
    assert broken.returncode == 1 and "region must be one of" in broken.stderr


@pytest.mark.parametrize(
    ("args", "images"),
    [
        (["exec", "hi", "-i", "a.png", "b.jpg", "--json"], ["a.png", "b.jpg"]),
        (["exec", "--image=a.png,b.png", "hi"], ["a.png", "b.png"]),
        (["-ia.png", "exec", "hi"], ["a.png"]),
        (["exec", "hi"], []),
        (["exec", "--", "-i", "x.png"], []),
    ],
)
def test_attached_images_are_found_as_codex_parses_them(args: list[str], images: list[str]) -> None:
    assert attached_images(args) == images
