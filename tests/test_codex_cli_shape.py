"""Where codexglm's overrides go on each Codex's command line, what it reads from Codex's
help, the guard against a silent provider fallback, and `exec --remote`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codexglm.codex.argv import (
    codex_arguments,
    needs_provider_probe,
    notes_allowed,
    probe_arguments,
    remote_refusal,
    subcommands,
    talks_to_model,
)
from codexglm.codex.capabilities import capabilities, help_commands, help_has_option, read_capabilities
from codexglm.codex.guard import PROBE_PROVIDER, ensure_provider_used
from codexglm.codex.overrides import PROVIDER_ID
from codexglm.codex.version import CodexError, CodexInfo
from tests import fake_codex
from tests.launcher_support import Rig, capabilities_at, write_fake

OLD = capabilities_at((0, 150, 0))  # drops root -c after a subcommand's own, no --no-daemon
MID = capabilities_at((0, 163, 0))  # still drops them, has --no-daemon
NEW = capabilities_at((0, 171, 0))  # merges them, has exec --remote
OURS = ["-c", 'model_provider="codexglm"', "-c", "model_providers.codexglm={}"]

ROOT_HELP_0171 = """Codex CLI

Usage: codex [OPTIONS] [PROMPT]

Commands:
  exec              Run Codex non-interactively [aliases: e]
  review            Run a code review non-interactively
  apply             Apply the latest diff produced by Codex agent as a `git apply` to your local
                    working tree [aliases: a]
  resume            Resume a previous interactive session (picker by default; use --last to continue
                    the most recent)
  help              Print this message or the help of the given subcommand(s)

Arguments:
  [PROMPT]
          Optional user prompt to start the session

Options:
  -c, --config <key=value>
          Override a configuration value that would otherwise be loaded from `~/.codex/config.toml`.
      --remote <ADDR>
          Connect the TUI to a remote app server endpoint.
      --no-daemon
          Run without the daemon
"""


# --- what help tells ------------------------------------------------------------------------------


def test_help_commands_include_aliases_on_wrapped_lines() -> None:
    assert help_commands(ROOT_HELP_0171) == {"exec", "e", "review", "apply", "a", "resume"}


def test_help_options() -> None:
    assert help_has_option(ROOT_HELP_0171, "--no-daemon")
    assert help_has_option(ROOT_HELP_0171, "--config")
    assert not help_has_option(ROOT_HELP_0171, "--no")
    assert not help_has_option("Usage: the --no-daemon flag is gone", "--no-daemon")


def test_capabilities_follow_help_and_version() -> None:
    assert not OLD.no_daemon and not OLD.root_overrides_merge and not OLD.exec_remote
    assert MID.no_daemon and not MID.root_overrides_merge
    assert NEW.no_daemon and NEW.root_overrides_merge and NEW.exec_remote
    assert NEW.exec_commands == {"resume", "review"}
    assert read_capabilities(CodexInfo("codex", (0, 171, 0)), "", "").commands == frozenset()


def test_capabilities_are_read_once_per_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("FAKE_CODEX_LOG", str(log))
    monkeypatch.setenv("FAKE_CODEX_VERSION", "0.156.0")
    codex = CodexInfo(str(write_fake(tmp_path / "codex")), (0, 156, 0))
    first = capabilities(codex, tmp_path / "cache")
    assert first.no_daemon and not first.exec_remote and "exec" in first.commands
    codex_path = tmp_path / "codex"
    codex_path.write_text("#!/bin/sh\nexit 3\n")  # a second run would print no help
    assert capabilities(codex, tmp_path / "cache") == first
    assert capabilities(CodexInfo(str(codex_path), (0, 157, 0)), tmp_path / "cache").commands == frozenset()
    assert not list((tmp_path / "cache").glob("codex-0.157.0-*"))  # no help, nothing cached


def test_corrupt_capability_cache_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CODEX_VERSION", "0.169.0")
    codex = CodexInfo(str(write_fake(tmp_path / "codex")), (0, 169, 0))
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "codex-0.169.0-capabilities.json").write_text(json.dumps({"format": 1, "commands": 3}))
    assert capabilities(codex, cache).no_daemon


# --- where the overrides go ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "found"),
    [
        ([], []),
        (["fix the bug"], []),
        (["exec", "hi"], [0]),
        (["e", "-c", "x=1", "hi"], [0]),
        (["-m", "exec", "resume"], [2]),  # `exec` is -m's value
        (["exec", "--json", "resume", "--last", "go on"], [0, 2]),
        (["exec", "-c", "a=1", "review"], [0, 3]),
        (["resume", "--last"], [0]),
        (["exec", "--", "resume"], [0]),
        (["mcp", "add", "x"], [0]),
    ],
)
def test_subcommands(args: list[str], found: list[int]) -> None:
    assert subcommands(args, NEW) == found


def test_old_codex_gets_the_overrides_after_the_deepest_subcommand_last() -> None:
    args = ["exec", "-c", "mcp_servers.x.command=\"y\"", "resume", "--last", "go on"]
    assert codex_arguments(args, OURS, OLD) == [*args, *OURS]
    assert codex_arguments(args, OURS, MID) == ["--no-daemon", *args, *OURS]
    with_rest = ["exec", "--json", "--", "-not-an-option"]
    assert codex_arguments(with_rest, OURS, OLD) == ["exec", "--json", *OURS, "--", "-not-an-option"]


def test_tui_and_offline_commands_keep_the_overrides_at_the_root() -> None:
    for args in ([], ["a prompt"], ["mcp", "list"], ["exec", "--help"]):
        assert codex_arguments(args, OURS, OLD) == [*OURS, *args]


def test_merging_codex_keeps_them_at_the_root() -> None:
    args = ["exec", "-c", "x=1", "hi"]
    assert codex_arguments(args, OURS, NEW) == ["--no-daemon", *OURS, *args]


def effective(argv: list[str], at: tuple[int, int, int]) -> list[str]:
    """The -c values the Codex of version AT applies (the fake models 0.150's rule)."""
    saved = fake_codex.VERSION
    fake_codex.VERSION = ".".join(map(str, at))
    try:
        return fake_codex.effective_overrides(argv)
    finally:
        fake_codex.VERSION = saved


_TOKENS = st.sampled_from([["exec"], ["resume"], ["review"], ["--json"], ["--last"], ["-c", "x=1"], ["hello"], ["--"],
                           ["-m", "glm-5"]])


@given(st.lists(_TOKENS, max_size=8), st.sampled_from([(0, 150, 0), (0, 163, 0), (0, 164, 0), (0, 171, 0)]))
def test_every_codex_applies_codexglm_overrides_last(tokens: list[list[str]], at: tuple[int, int, int]) -> None:
    args = [word for token in tokens for word in token]
    able = capabilities_at(at)
    applied = effective(codex_arguments(args, OURS, able), at)
    if not talks_to_model(args):
        return
    assert OURS[1] in applied and OURS[3] in applied, (args, applied)
    if not able.root_overrides_merge and subcommands(args, able):
        assert applied[-2:] == [OURS[1], OURS[3]]  # moved after the subcommand, last, so they win


# --- the probe ------------------------------------------------------------------------------------


def test_probe_is_needed_only_for_user_overrides_after_a_subcommand() -> None:
    assert needs_provider_probe(["exec", "-c", "x=1", "hi"], NEW)
    assert needs_provider_probe(["exec", "resume", "--config=x=1"], OLD)
    assert needs_provider_probe(["exec", "-cx=1", "hi"], OLD)
    assert not needs_provider_probe(["-c", "x=1", "exec", "hi"], OLD)
    assert not needs_provider_probe(["exec", "hi"], OLD)
    assert not needs_provider_probe(["-c", "x=1", "a prompt"], OLD)
    assert not needs_provider_probe(["exec", "--", "-c", "x=1"], OLD)


def test_probe_keeps_only_the_shape_never_the_prompt() -> None:
    args = ["exec", "--json", "-m", "glm-5", "-c", "x=1", "resume", "--last", "my secret prompt", "-cy=2"]
    probe = ["-c", f'model_provider="{PROBE_PROVIDER}"']
    assert probe_arguments(args, OURS, OLD, probe) == ["exec", "-c", "x=1", "resume", "-cy=2", *OURS, *probe]
    assert probe_arguments(args, OURS, NEW, probe) == ["--no-daemon", *OURS, *probe, "exec", "-c", "x=1", "resume", "-cy=2"]


def _fake_at(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str) -> CodexInfo:
    monkeypatch.setenv("FAKE_CODEX_VERSION", version)
    monkeypatch.setenv("FAKE_CODEX_LOG", str(tmp_path / "log.jsonl"))
    return CodexInfo(str(write_fake(tmp_path / "codex")), tuple(map(int, version.split("."))))  # type: ignore[arg-type]


def test_probe_passes_where_the_overrides_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    codex = _fake_at(tmp_path, monkeypatch, "0.150.0")
    provider = ["-c", 'model_provider="codexglm"', "-c", 'model_providers.codexglm={name="x"}']
    ensure_provider_used(codex, ["exec", "-c", "x=1", "hi"], provider, OLD, os.environ)
    assert not (tmp_path / "log.jsonl").exists()  # Codex stopped at the unknown provider


def test_probe_refuses_a_command_line_whose_overrides_codex_drops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    codex = _fake_at(tmp_path, monkeypatch, "0.150.0")
    provider = ["-c", 'model_provider="codexglm"', "-c", 'model_providers.codexglm={name="x"}']
    # Claiming 0.150 merges like 0.171 puts the overrides at the root, where 0.150 drops them.
    with pytest.raises(CodexError) as caught:
        ensure_provider_used(codex, ["exec", "-c", "x=1", "my prompt"], provider, NEW, os.environ)
    message = str(caught.value)
    assert "would ignore codexglm's provider" in message and "No prompt provided" in message
    assert "\n" not in message and "my prompt" not in message
    fallback = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [entry["event"] for entry in fallback] == ["fallback"]
    assert "my prompt" not in json.dumps(fallback)  # the probe never carries the prompt


def test_probe_that_cannot_run_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CodexError, match="cannot check that Codex uses codexglm's provider"):
        ensure_provider_used(CodexInfo(str(tmp_path / "gone"), (0, 150, 0)), ["exec", "-c", "x=1"], OURS, OLD, {})


# --- exec --remote and notes ----------------------------------------------------------------------


def test_exec_remote_is_refused_where_codex_has_it() -> None:
    for args in (["exec", "--remote", "ws://h:1", "hi"], ["e", "--remote=ws://h:1", "hi"]):
        message = remote_refusal(args, NEW)
        assert message is not None and "--remote" in message and "\n" not in message
    assert remote_refusal(["exec", "--remote", "ws://h:1"], OLD) is None  # that Codex reports the flag itself
    assert remote_refusal(["--remote", "ws://h:1"], NEW) is None  # the TUI's own --remote
    assert remote_refusal(["exec", "--", "--remote"], NEW) is None


@pytest.mark.parametrize(
    ("args", "allowed"),
    [
        ([], True),
        (["exec", "hi"], True),
        (["--help"], False),
        (["exec", "-h"], False),
        (["--version"], False),
        (["-V"], False),
        (["completion", "bash"], False),
        (["help", "exec"], False),
        (["exec", "--", "--help"], True),
    ],
)
def test_notes_stay_out_of_help_version_and_completion(args: list[str], allowed: bool) -> None:
    assert notes_allowed(args) is allowed


# --- through the launcher -------------------------------------------------------------------------


def test_launch_on_the_floor_version_places_overrides_after_exec(tmp_path: Path) -> None:
    rig = Rig(tmp_path, version="0.150.0")
    done = rig.run("exec", "-c", "mcp_servers.x.command=\"y\"", "hi", FAKE_CODEX_SCRIPT="exit:0")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # a verified version: no note
    argv = rig.wait_for("start")["argv"]
    assert argv[:3] == ["exec", "-c", "mcp_servers.x.command=\"y\""] and "--no-daemon" not in argv
    assert rig.events("fallback") == []
    assert PROVIDER_ID in argv[argv.index("hi") + 2]  # ours after the user's, last


def test_launch_refuses_exec_remote_before_starting_codex(tmp_path: Path) -> None:
    rig = Rig(tmp_path, version="0.171.0")
    done = rig.run("exec", "--remote", "ws://127.0.0.1:9", "hi", FAKE_CODEX_SCRIPT="exit:0")
    assert done.returncode != 0 and rig.events("start") == []
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--remote" in lines[0] and "Traceback" not in done.stderr


def test_newer_codex_notes_once_and_never_on_help(tmp_path: Path) -> None:
    rig = Rig(tmp_path, version="0.172.0")
    assert rig.run("--help", FAKE_CODEX_SCRIPT="exit:0").stderr == ""
    assert rig.run("completion", "bash", FAKE_CODEX_SCRIPT="exit:0").stderr == ""
    first = rig.run("exec", "hi", FAKE_CODEX_SCRIPT="exit:0")
    assert first.returncode == 0 and len(first.stderr.splitlines()) == 1 and "0.172.0" in first.stderr
    assert rig.run("exec", "hi", FAKE_CODEX_SCRIPT="exit:0").stderr == ""


def test_a_shape_that_passed_is_not_probed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    codex = _fake_at(tmp_path, monkeypatch, "0.150.0")
    provider = ["-c", 'model_provider="codexglm"', "-c", 'model_providers.codexglm={name="x"}']
    cache = tmp_path / "cache"
    cache.mkdir()
    ensure_provider_used(codex, ["exec", "-c", "x=1", "hi"], provider, OLD, os.environ, cache=cache)
    Path(codex.path).write_text("#!/bin/sh\nexit 7\n")  # would fail any probe from now on
    # Same shape, other values and prompt: remembered.
    ensure_provider_used(codex, ["exec", "-c", "x=2", "other prompt"], provider, OLD, os.environ, cache=cache)
    with pytest.raises(CodexError):  # a new shape is probed
        ensure_provider_used(codex, ["exec", "-c", "y=1", "resume", "-c", "z=1"], provider, OLD, os.environ, cache=cache)
    with pytest.raises(CodexError):  # and another version is not this one
        ensure_provider_used(CodexInfo(codex.path, (0, 151, 0)), ["exec", "-c", "x=1"], provider, OLD, os.environ,
                             cache=cache)


def test_a_refused_shape_is_never_remembered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    codex = _fake_at(tmp_path, monkeypatch, "0.150.0")
    provider = ["-c", 'model_provider="codexglm"', "-c", 'model_providers.codexglm={name="x"}']
    cache = tmp_path / "cache"
    cache.mkdir()
    for _ in range(2):
        with pytest.raises(CodexError):
            ensure_provider_used(codex, ["exec", "-c", "x=1", "hi"], provider, NEW, os.environ, cache=cache)
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 2  # probed both times
    assert list(cache.iterdir()) == []


def test_probe_that_fails_otherwise_refuses_without_guessing(tmp_path: Path) -> None:
    broken = tmp_path / "codex"
    broken.write_text("#!/bin/sh\necho 'Error: config.toml:3:1: unknown field `bad`' >&2\nexit 1\n")
    broken.chmod(0o755)
    with pytest.raises(CodexError) as caught:
        ensure_provider_used(CodexInfo(str(broken), (0, 150, 0)), ["exec", "-c", "x=1", "hi"], OURS, OLD, os.environ)
    assert str(caught.value).startswith("cannot confirm that Codex 0.150.0 uses codexglm's provider")
    assert str(caught.value).endswith("Codex said: config.toml:3:1: unknown field `bad`")
