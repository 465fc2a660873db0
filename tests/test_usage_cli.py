"""`codexglm usage` and the exit line's switches: what a user types and sees."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from codexglm.cli import main
from codexglm.codex.argv import prints_json_events, talks_to_model
from codexglm.config import ConfigError, coerce
from codexglm.launcher import wants_exit_line
from codexglm.ledger.entry import UsageEntry
from codexglm.ledger.store import SqliteStore
from codexglm.providers.base import TOKENS_WINDOW, QuotaWindow
from codexglm.settings import Settings


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("ZAI_API_KEY", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CODEXGLM_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("CODEXGLM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CODEXGLM_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "state"


def _fill(state: Path, now: float) -> None:
    store = SqliteStore(state / "usage.sqlite3")
    rows = [
        UsageEntry(time=now - 60, provider="glm", model="glm-5.1", endpoint="coding", session_id="s-1",
                   input_tokens=120_000, cached_input_tokens=90_000, output_tokens=3_000, reasoning_output_tokens=800,
                   cost_usd=0.07, plan=True),
        UsageEntry(time=now - 30, provider="glm", model="glm-4.7", endpoint="general", session_id="s-2",
                   input_tokens=8_000, output_tokens=500, cost_usd=0.006),
        UsageEntry(time=now - 8 * 86_400, provider="glm", model="glm-4.7", endpoint="general", session_id="s-0",
                   input_tokens=1, output_tokens=1, cost_usd=0.0),
    ]
    store.record(rows)
    store.save_windows([QuotaWindow(TOKENS_WINDOW, 300, "5-hour", 12, None, None, now + 3600)])
    store.close()


def test_usage_json_totals_the_range(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(state, time.time())
    assert main(["usage", "--json", "--since", "7d", "--by", "model"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["totals"] == {"requests": 2, "input_tokens": 128_000, "cached_input_tokens": 90_000,
                                  "output_tokens": 3_500, "reasoning_output_tokens": 800, "cost_usd": 0.006,
                                  "plan_usd": 0.07, "failed_requests": 0}
    assert [row["model"] for row in document["rows"]] == ["glm-5.1", "glm-4.7"]
    assert document["by"] == "model"
    [window] = document["plan_windows"]  # as the proxy last saw them
    assert (window["name"], window["minutes"], window["used_percent"]) == ("5-hour", 300, 12)
    assert document["plan_windows_seen"] is not None


def test_usage_since_window_starts_at_the_plan_windows_start(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = time.time()
    _fill(state, now)
    assert main(["usage", "--json", "--since", "window"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["totals"]["requests"] == 2  # both recent rows are inside the 5-hour window
    assert main(["usage", "--json", "--since", "30d"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["requests"] == 3


def test_the_human_view_is_a_table_with_bars(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(state, time.time())
    assert main(["usage", "--by", "model"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "codexglm usage, since 7d, by model"
    assert all(len(line) <= 80 for line in lines)
    glm51 = next(line for line in lines if line.startswith("glm-5.1"))
    assert "120k" in glm51 and "90.0k" in glm51 and "█" in glm51 and "$0.07" in glm51
    assert next(line for line in lines if line.startswith("total")).split()[1] == "2"
    assert lines[-2].startswith("plan windows as of ") and lines[-1].startswith("  5-hour 12% (resets ")
    assert "\x1b[" not in out  # not a terminal: no colour


def test_colour_only_on_a_terminal_without_no_color(state: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _fill(state, time.time())
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    assert main(["usage"]) == 0
    assert "\x1b[36m" in capsys.readouterr().out
    monkeypatch.setenv("NO_COLOR", "1")
    assert main(["usage"]) == 0
    assert "\x1b[" not in capsys.readouterr().out


def test_usage_csv_has_a_header_and_a_row_per_group(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(state, time.time())
    assert main(["usage", "--csv", "--by", "session", "--since", "1h"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split(",")[:3] == ["session", "requests", "input_tokens"]
    assert [line.split(",")[:3] for line in lines[1:]] == [["s-1", "1", "120000"], ["s-2", "1", "8000"]]


def test_no_ledger_yet_is_an_empty_report_not_an_error(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["usage", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["requests"] == 0
    assert main(["usage"]) == 0
    assert "nothing recorded yet" in capsys.readouterr().out
    assert not state.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--by", "week"], "--by must be one of day, model, session, provider"),
        (["--since", "yesterday"], "--since must be"),
        (["--since", "window"], "no current plan window is known yet"),
        (["--json", "--csv"], "cannot be combined"),
    ],
)
def test_bad_usage_arguments_are_one_line_and_status_2(state: Path, capsys: pytest.CaptureFixture[str],
                                                       args: list[str], message: str) -> None:
    assert main(["usage", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_an_unreadable_ledger_is_one_line_and_status_1(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state.mkdir(parents=True)
    (state / "usage.sqlite3").write_bytes(b"this is not a database" * 100)
    assert main(["usage"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("codexglm: cannot read the usage ledger:") and len(err.strip().splitlines()) == 1


# --- the exit line's switches --------------------------------------------------------------


def test_exec_json_is_recognised_wherever_the_flag_is() -> None:
    assert prints_json_events(["exec", "--json", "hi"])
    assert prints_json_events(["-m", "glm-5", "exec", "hi", "--json"])
    assert prints_json_events(["e", "--experimental-json", "hi"])
    assert not prints_json_events(["exec", "hi"])
    assert not prints_json_events(["--json"])  # not exec: codex's TUI has no JSON output
    assert not prints_json_events(["-c", "exec", "resume"])  # `exec` is -c's value here
    assert talks_to_model(["exec", "hi"]) and not talks_to_model(["login"]) and talks_to_model([])


@pytest.mark.parametrize(
    ("mode", "args", "expected"),
    [
        ("auto", ["exec", "hi"], True),
        ("auto", [], True),
        ("auto", ["exec", "--json", "hi"], False),
        ("always", ["exec", "--json", "hi"], True),
        ("never", [], False),
    ],
)
def test_the_exit_line_is_on_unless_it_would_disturb_json(mode: str, args: list[str], expected: bool) -> None:
    assert wants_exit_line(Settings(exit_summary=mode), args) is expected


def test_exit_summary_takes_a_mode_or_a_boolean() -> None:
    assert coerce("exit_summary", False) == "never"
    assert coerce("exit_summary", "true") == "auto"
    assert coerce("exit_summary", " Always ") == "always"
    with pytest.raises(ConfigError, match="exit_summary must be one of auto, always, never"):
        coerce("exit_summary", "sometimes")
    assert coerce("ledger_retention_days", "30") == 30 and coerce("usage_ledger", "off") is False


def test_a_state_dir_that_cannot_be_entered_is_one_line(state: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Path, **kwargs: object) -> bool:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "exists", refuse)  # root enters any directory, so the refusal is simulated
    assert main(["usage"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("codexglm: cannot read the usage ledger: cannot open") and "Permission denied" in err
