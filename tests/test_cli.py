"""codexglm.cli: splitting codexglm's options from codex's, and codexglm's own commands."""

from __future__ import annotations

import io
import json
import os
import signal
import stat
import subprocess
import sys
import types
import urllib.request
from pathlib import Path

import pytest

from codexglm import __version__, cli
from codexglm.cli import COMMANDS, GLM_OPTIONS, UsageError, main, parse_glm_args
from codexglm.cli.table import command_named
from codexglm.providers.glm.models import MODELS

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-cli-test-abcdefgh5678"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("ZAI_API_KEY", "ZAI_BASE_URL", "ZAI_CODING_BASE_URL", "GLM_ZAI_ENDPOINT_MODE", "GLM_DEFAULT_MODEL",
                 "GLM_MODEL_MAP_JSON", "CODEXGLM_TOKEN", "CODEXGLM_CODEX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CODEXGLM_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("CODEXGLM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CODEXGLM_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


# --- splitting the command line -----------------------------------------------------------------


def test_glm_options_anywhere_before_a_separator() -> None:
    parsed = parse_glm_args(["exec", "--glm-model", "glm-5", "--json", "--glm-region=china", "hi", "--glm-log-bodies"])
    assert parsed.rest == ["exec", "--json", "hi"]
    assert parsed.flags == {"default_model": "glm-5", "region": "china", "log_bodies": True}
    # Errors a flag's value causes name the option the user typed.
    assert parsed.flag_names == {"default_model": "--glm-model", "region": "--glm-region", "log_bodies": "--glm-log-bodies"}
    assert parsed.dropped == [1, 2, 4, 6]


def test_a_separator_after_codex_arguments_is_codexs() -> None:
    parsed = parse_glm_args(["exec", "--", "--glm-model", "x", "-m"])
    assert parsed.rest == ["exec", "--", "--glm-model", "x", "-m"]
    assert parsed.flags == {} and not parsed.separated


def test_a_separator_after_only_glm_options_is_dropped() -> None:
    parsed = parse_glm_args(["--glm-model", "glm-5", "--", "doctor", "--glm-x"])
    assert parsed.rest == ["doctor", "--glm-x"]
    assert parsed.separated and parsed.command is None  # codex's doctor, not ours
    assert parse_glm_args(["--", "--", "-x"]).rest == ["--", "-x"]


def test_codexglm_commands_are_only_the_first_word() -> None:
    assert parse_glm_args(["--glm-region", "china", "config", "show"]).command is command_named("config")
    assert parse_glm_args(["exec", "config"]).command is None
    assert parse_glm_args(["-m", "glm-5", "models"]).command is None
    assert parse_glm_args([]).command is None


def test_switches_and_special_options() -> None:
    parsed = parse_glm_args(["--glm-no-reasoning", "--glm-web-search", "--glm-port", "8123", "--glm-help", "--glm-version"])
    assert parsed.flags == {"show_reasoning": False, "web_search": True}
    assert parsed.port == 8123 and parsed.help and parsed.version and parsed.rest == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--glm-modle", "x"], "unknown option --glm-modle"),
        (["exec", "--glm-model"], "--glm-model needs a value"),
        (["--glm-log-bodies=yes"], "--glm-log-bodies takes no value"),
        (["--glm-region", "mars"], "--glm-region must be one of"),
        (["--glm-endpoint-mode=sometimes"], "--glm-endpoint-mode must be one of"),
        (["--glm-port", "http"], "--glm-port must be a port number"),
        (["--glm-port", "70000"], "--glm-port must be a port number"),
    ],
)
def test_bad_glm_options(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_glm_args(argv)


def test_usage_errors_are_one_line_and_exit_2(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--glm-bogus"]) == 2
    err = capsys.readouterr().err
    assert err == "codexglm: unknown option --glm-bogus (see codexglm --glm-help)\n"
    assert main(["config", "set"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("codexglm: config set: ") and err.count("\n") == 1


def test_help_of_a_codexglm_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: codexglm config") and "unset" in out


def test_glm_help_lists_every_command_and_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--glm-help"]) == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert f"  {command.name} " in out
    for option in GLM_OPTIONS:
        assert f"  {option.flag}" in out


def test_glm_version(home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(home))
    assert main(["--glm-version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"codexglm {__version__}\n")
    assert "npm install -g @openai/codex" in out


def test_unexpected_errors_are_one_line(home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(options: object, parsed: object) -> int:
        raise ValueError("kaput")

    monkeypatch.setitem(cli._HANDLERS, "models", broken)
    assert main(["models"]) == 1
    assert capsys.readouterr().err == "codexglm: internal error: ValueError: kaput (set CODEXGLM_DEBUG=1 for details)\n"
    monkeypatch.setenv("CODEXGLM_DEBUG", "1")
    with pytest.raises(ValueError):
        main(["models"])


def test_doctor_gets_its_options_parsed_from_the_one_table(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[object, ...]] = []
    stub = types.ModuleType("codexglm.doctor")
    stub.run_doctor = lambda flags, **options: seen.append((flags, options)) or 7  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "codexglm.doctor", stub)
    assert main(["--glm-region", "china", "doctor", "--json"]) == 7
    assert seen == [({"region": "china"}, {"json_output": True, "offline": False})]


# --- config ---------------------------------------------------------------------------------------


def test_config_shows_values_and_sources(home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ZAI_API_KEY", KEY)
    monkeypatch.setenv("GLM_DEFAULT_MODEL", "glm-4.7")
    assert main(["config", "set", "region", "china"]) == 0
    capsys.readouterr()
    assert main(["--glm-endpoint-mode", "auto", "config"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if not line.startswith("#")}
    assert lines["region"].endswith("(config file)") and "china" in lines["region"]
    assert lines["default_model"].endswith("(env GLM_DEFAULT_MODEL)")
    assert lines["endpoint_mode"].endswith("(flag)")
    assert lines["web_search"].endswith("(default)")
    assert lines["api_keys"].endswith("(env ZAI_API_KEY)") and "****5678" in lines["api_keys"]
    assert KEY not in out


def test_config_set_and_unset(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = home / "config" / "config.toml"
    assert main(["config", "set", "model_map.gpt-5.5", "glm-5.1"]) == 0
    assert main(["config", "set", "log_bodies", "yes"]) == 0
    out = capsys.readouterr().out
    assert "model_map.gpt-5.5 = glm-5.1" in out and "log_bodies = true" in out
    assert '"gpt-5.5" = "glm-5.1"' in path.read_text()
    assert main(["config", "unset", "log_bodies"]) == 0
    assert main(["config", "unset", "log_bodies"]) == 0
    out = capsys.readouterr().out
    assert "removed log_bodies" in out and "log_bodies was not set" in out
    assert main(["config", "path"]) == 0
    assert capsys.readouterr().out == f"{path}\n"
    assert main(["config", "set", "region", "mars"]) == 1
    assert capsys.readouterr().err.startswith("codexglm: region must be one of")


def test_config_stores_the_api_key_from_stdin(home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(KEY + "\n"))
    assert main(["config", "set", "api_key", "-"]) == 0
    captured = capsys.readouterr()
    key_file = home / "config" / "api_key"
    assert key_file.read_text().strip() == KEY
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert KEY not in captured.out + captured.err and "****5678" in captured.out
    assert main(["config"]) == 0
    assert "(key file)" in capsys.readouterr().out
    monkeypatch.setenv("ZAI_API_KEY", "other-key-000000000")
    monkeypatch.setattr(sys, "stdin", io.StringIO(KEY))
    assert main(["config", "set", "api_key", "-"]) == 0
    assert "ZAI_API_KEY is set and wins" in capsys.readouterr().err
    assert main(["config", "unset", "api_key"]) == 0
    assert not key_file.exists()


def test_a_key_given_on_the_command_line_is_stored_with_a_warning(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "set", "api_key", KEY]) == 0
    captured = capsys.readouterr()
    assert (home / "config" / "api_key").read_text().strip() == KEY
    assert "shell history" in captured.err and KEY not in captured.out + captured.err


# --- models and completion ------------------------------------------------------------------------


def test_models_lists_every_model(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--glm-model", "glm-4.7", "models"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Z.ai (glm), the default provider:\n")
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  glm")}
    assert set(rows) == set(MODELS)
    assert "plan only" in rows["glm-5.4"]
    assert "glm-4.7 *" in out
    assert "1,000,000" in rows["glm-5.3"] and "text+image" in rows["glm-5.3"]
    # Text-only models get images as descriptions, and the footer says by which model.
    footer = next(line for line in out.splitlines() if line.startswith("* default model"))
    assert "text+described" in rows["glm-5.1"] and footer.endswith("descriptions by glm-4.6v")
    assert "free" in rows["glm-4.7-flash"]
    assert rows["glm-4-32b-0414-128k"].split()[3] == "no"


def test_completion_prints_a_script(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "bash"]) == 0
    assert "complete -F _codexglm" in capsys.readouterr().out
    assert main(["completion", "tcsh"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_config_set_refuses_an_unknown_model_listing_the_known(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "set", "default_model", "glm-9"]) == 1
    err = capsys.readouterr().err
    assert "unknown Z.ai model 'glm-9'" in err and "glm-5.1" in err and "glm-4.7" in err
    assert main(["config", "set", "model_map.gpt-5", "glm-4,7"]) == 1
    assert not (home / "config" / "config.toml").exists()
    assert main(["config", "set", "default_model", "glm-4.7"]) == 0


def test_config_set_refuses_a_base_url_without_scheme(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "set", "coding_base_url", "api.z.ai/api/coding/paas/v4"]) == 1
    assert "coding_base_url must be a full URL starting with https://" in capsys.readouterr().err


def test_an_unknown_key_in_config_toml_does_not_stop_commands(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (home / "config").mkdir()
    (home / "config" / "config.toml").write_text('colour = "blue"\n')
    assert main(["config", "set", "default_model", "glm-4.7"]) == 0
    assert main(["models"]) == 0


# --- serve ----------------------------------------------------------------------------------------


def test_serve_refuses_a_public_address_without_a_token(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "without a token" in capsys.readouterr().err


def test_serve_needs_a_key(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "0"]) == 1
    assert "no Z.ai API key" in capsys.readouterr().err


@pytest.mark.parametrize("given_token", [None, "my-client-token-123"])
def test_serve_runs_the_proxy_until_sigterm(home: Path, given_token: str | None) -> None:
    env = {**os.environ, "ZAI_API_KEY": KEY, "PYTHONPATH": str(ROOT)}
    if given_token:
        env["CODEXGLM_TOKEN"] = given_token
    proc = subprocess.Popen([sys.executable, "-m", "codexglm", "serve", "--port", "0"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split("proxy at ")[1].strip()
        shown = proc.stdout.readline().split("client token: ")[1].strip()
        token = given_token or shown
        assert (shown == "(as given)") == bool(given_token)
        request = urllib.request.Request(f"{url}/models", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            assert "glm-5.1" in [model["id"] for model in json.loads(response.read())["data"]]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert KEY not in err


def test_a_closed_pipe_is_not_an_error(tmp_path: Path) -> None:
    env = {**os.environ, "CODEXGLM_CONFIG_DIR": str(tmp_path), "ZAI_API_KEY": ""}
    result = subprocess.run(f"{sys.executable} -m codexglm models | head -c 10 >/dev/null", shell=True, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.stderr == ""


def test_serve_on_a_busy_port_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    monkeypatch.setenv("ZAI_API_KEY", KEY)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"codexglm: cannot listen on 127.0.0.1:{port}: ") and err.count("\n") == 1
    assert "ExceptionGroup" not in err and "internal error" not in err
