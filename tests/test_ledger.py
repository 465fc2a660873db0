"""The usage ledger on its own: rows, costs, the SQLite store, the writer thread, reports."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codexglm.codex.origin import request_origin
from codexglm.ledger import writer
from codexglm.ledger.entry import RunTally, Totals, UsageEntry, estimate_cost, tokens_of
from codexglm.ledger.report import (
    SinceError,
    current_window_start,
    exit_line,
    report_csv,
    report_json,
    report_table,
    since_start,
)
from codexglm.ledger.store import MIGRATIONS, SCHEMA_VERSION, LedgerError, Report, SqliteStore
from codexglm.ledger.writer import Ledger
from codexglm.providers.base import TOKENS_WINDOW, QuotaWindow
from codexglm.providers.glm.models import MODELS

SESSION = "01a20834-fac7-7e83-8ed1-de9a15c971a3"
CHILD = "01a20834-fb41-7161-9290-af07cbbe790d"
NOW = 1_796_000_000.0


def entry(**fields: object) -> UsageEntry:
    base: dict[str, object] = {
        "time": NOW,
        "provider": "glm",
        "model": "glm-5.1",
        "endpoint": "coding",
        "session_id": SESSION,
        "thread_id": SESSION,
        "input_tokens": 1000,
        "cached_input_tokens": 400,
        "output_tokens": 50,
        "reasoning_output_tokens": 10,
        "cost_usd": 0.001,
        "plan": True,
    }
    base.update(fields)
    return UsageEntry(**base)  # type: ignore[arg-type]


def totals_of(entries: Sequence[UsageEntry]) -> Totals:
    totals = Totals()
    for row in entries:
        totals.add(row)
    return totals


def window(name: str, minutes: int, percent: float, resets_at: float | None) -> QuotaWindow:
    return QuotaWindow(TOKENS_WINDOW, minutes, name, percent, None, None, resets_at)


# --- where a request comes from ------------------------------------------------------------


def _metadata(**fields: object) -> str:
    return json.dumps({"session_id": SESSION, "thread_id": SESSION, "turn_id": "turn-1", **fields})


def test_a_turn_names_its_session_thread_and_turn() -> None:
    headers = {"session-id": SESSION, "thread-id": SESSION,
               "x-codex-turn-metadata": _metadata(request_kind="turn", thread_source="user")}
    origin = request_origin(headers)
    assert (origin.session_id, origin.thread_id, origin.turn_id, origin.kind) == (SESSION, SESSION, "turn-1", "turn")
    assert origin.conversation


def test_compaction_and_subagent_requests_are_told_apart() -> None:
    compaction = {"session-id": SESSION, "x-codex-turn-metadata": _metadata(request_kind="compaction")}
    assert request_origin(compaction).kind == "compaction"
    # As captured from Codex 0.169: the child keeps the parent's session id.
    child = {"session-id": SESSION, "thread-id": CHILD, "x-openai-subagent": "collab_spawn",
             "x-codex-turn-metadata": _metadata(thread_id=CHILD, request_kind="turn", thread_source="subagent")}
    origin = request_origin(child)
    assert (origin.kind, origin.session_id, origin.thread_id, origin.conversation) == ("subagent", SESSION, CHILD, True)


def test_a_title_thread_is_a_side_session_not_the_conversation() -> None:
    title = {"session-id": CHILD, "thread-id": CHILD,
             "x-codex-turn-metadata": _metadata(session_id=CHILD, request_kind="turn", thread_source="thread_title")}
    origin = request_origin(title)
    assert origin.kind == "subagent" and not origin.conversation


@pytest.mark.parametrize("metadata", ["not json", "[1, 2]", json.dumps({"turn_id": 7}), ""])
def test_malformed_headers_leave_fields_empty(metadata: str) -> None:
    origin = request_origin({"x-codex-turn-metadata": metadata, "session-id": "x" * 500})
    assert (origin.session_id, origin.turn_id, origin.kind) == (None, None, "turn")


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=40),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4))


@given(st.dictionaries(st.sampled_from(["session-id", "thread-id", "x-openai-subagent", "x-codex-turn-metadata"]),
                       st.text(max_size=200) | _JSON.map(json.dumps)))
def test_any_headers_give_an_origin_and_never_an_error(headers: dict[str, str]) -> None:
    origin = request_origin(headers)
    assert origin.kind in ("turn", "compaction", "subagent")
    for value in (origin.session_id, origin.thread_id, origin.turn_id):
        assert value is None or (0 < len(value) <= 128 and value.isprintable())


# --- tokens and cost -----------------------------------------------------------------------


def test_tokens_come_from_the_responses_usage_object() -> None:
    usage = {"input_tokens": 12_000, "input_tokens_details": {"cached_tokens": 9_000}, "output_tokens": 40,
             "output_tokens_details": {"reasoning_tokens": 12}, "total_tokens": 12_040}
    assert tokens_of(usage) == {"input_tokens": 12_000, "cached_input_tokens": 9_000, "output_tokens": 40,
                                "reasoning_output_tokens": 12}
    assert tokens_of(None) == tokens_of({"input_tokens": -3, "output_tokens": True}) == dict.fromkeys(tokens_of(None), 0)
    chat = {"prompt_tokens": 12_000, "prompt_tokens_details": {"cached_tokens": 9_000}, "completion_tokens": 40,
            "completion_tokens_details": {"reasoning_tokens": 12}, "total_tokens": 12_040}
    assert tokens_of(chat) == tokens_of(usage)  # the chat pass-through route's usage


def test_cost_uses_the_model_tables_three_prices() -> None:
    # glm-5.1: $1.4 in, $0.26 cached, $4.4 out per million tokens.
    cost = estimate_cost(MODELS["glm-5.1"], 1_000_000, 400_000, 100_000)
    assert cost == pytest.approx(0.6 * 1.4 + 0.4 * 0.26 + 0.1 * 4.4)
    assert estimate_cost(MODELS["glm-4.7-flash"], 10_000, 0, 10_000) == 0.0  # free
    assert estimate_cost(None, 10_000, 0, 10_000) is None  # unknown model: no price
    # Cached tokens beyond the input (a malformed usage) never make the cost negative.
    assert estimate_cost(MODELS["glm-5.1"], 10, 50, 0) == pytest.approx(10 * 0.26 / 1e6)


def test_every_priced_model_has_three_prices() -> None:
    for spec in MODELS.values():
        assert spec.price is None or (len(spec.price) == 3 and all(p >= 0 for p in spec.price)), spec.id


def test_totals_split_cash_from_plan_usage_and_count_failures_once() -> None:
    totals = totals_of([entry(cost_usd=0.5, plan=True), entry(cost_usd=0.25, plan=False, outcome="server_error"),
                        entry(cost_usd=None, model="glm-9")])
    assert (totals.requests, totals.input_tokens, totals.failed, totals.unpriced) == (3, 3000, 1, 1)
    assert (totals.plan_usd, totals.cost_usd) == (0.5, 0.25)


# --- the SQLite store ----------------------------------------------------------------------


def test_rows_round_trip_into_totals_and_groups(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "usage.sqlite3")
    rows = [entry(), entry(model="glm-4.7", cost_usd=0.002, plan=False), entry(session_id=CHILD, provider="other")]
    store.record(rows)
    report = store.report(NOW - 10, "model")
    assert report.totals == totals_of(rows)
    assert [(g.key, g.totals.requests) for g in report.groups] == [("glm-5.1", 2), ("glm-4.7", 1)]
    assert [g.key for g in store.report(NOW - 10, "session").groups] == [SESSION, CHILD]
    assert [g.key for g in store.report(NOW - 10, "provider").groups] == ["glm", "other"]
    [day] = store.report(NOW - 10, "day").groups
    assert day.key == datetime.fromtimestamp(NOW).strftime("%Y-%m-%d")
    assert store.report(NOW + 1, "day").totals.requests == 0
    store.close()


def test_rows_past_the_retention_age_are_pruned_on_open(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    store = SqliteStore(path)
    now = time.time()
    store.record([entry(time=now - 91 * 86_400), entry(time=now - 89 * 86_400)])
    store.close()
    store = SqliteStore(path, retention_days=90)
    assert store.report(0, "day").totals.requests == 1
    store.close()


def test_a_ledger_past_its_size_cap_drops_its_oldest_rows(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    store = SqliteStore(path)
    now = time.time()
    store.record([entry(time=now - i, session_id=f"s{i:06d}" * 4) for i in range(4000)])
    store.close()
    store = SqliteStore(path, max_bytes=64 * 1024)
    left = store.report(0, "day").totals.requests
    store.close()
    assert left == 3000  # the oldest quarter went
    newest = SqliteStore(path, max_bytes=64 * 1024, read_only=True).report(now - 10, "day").totals.requests
    assert newest == 11


def test_a_version_1_ledger_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute(
        "INSERT INTO requests (time, session_id, thread_id, kind, provider, model, endpoint, input_tokens, "
        "cached_input_tokens, output_tokens, reasoning_output_tokens, cost_usd, plan, ttft_ms, duration_ms, retries, "
        "outcome) VALUES (?, ?, ?, 'turn', 'glm', 'glm-5.1', 'coding', 100, 10, 5, 1, 0.01, 1, 3.5, 9.0, 0, 'ok')",
        (time.time(), SESSION, SESSION),
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with pytest.raises(LedgerError, match="older schema"):
        SqliteStore(path, read_only=True).report(0, "day")
    store = SqliteStore(path)
    store.record([entry(time=time.time(), turn_id="turn-9")])
    report = store.report(0, "session")
    store.close()
    assert report.totals.requests == 2 and report.totals.input_tokens == 1100
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    assert check.execute("SELECT turn_id FROM requests ORDER BY id").fetchall() == [(None,), ("turn-9",)]
    assert check.execute("SELECT count(*) FROM key_endpoints").fetchone()[0] == 0  # v4: the shared endpoint memory
    assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    check.close()


def test_a_new_ledger_is_private_to_its_user(tmp_path: Path) -> None:
    path = tmp_path / "state" / "usage.sqlite3"
    store = SqliteStore(path)
    store.record([entry()])
    store.close()
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700


def test_a_ledger_from_a_newer_codexglm_is_refused_not_damaged(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(LedgerError, match=f"schema version {SCHEMA_VERSION + 1}"):
        SqliteStore(path)


def test_reading_never_creates_a_ledger(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="cannot open"):
        SqliteStore(tmp_path / "absent.sqlite3", read_only=True)
    assert not (tmp_path / "absent.sqlite3").exists()


def test_plan_windows_are_kept_for_later_reports(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "usage.sqlite3")
    assert store.windows() is None
    windows = [window("5-hour", 300, 12, NOW + 3600), window("weekly", 10_080, 3, NOW + 86_400)]
    store.save_windows(windows)
    saved = store.windows()
    store.close()
    assert saved is not None and saved[1] == windows


# --- the writer ----------------------------------------------------------------------------


def _stored(path: Path) -> Report:
    store = SqliteStore(path, read_only=True)
    try:
        return store.report(0, "day")
    finally:
        store.close()


def _ledger(path: Path, **kwargs: int) -> Ledger:
    return Ledger(lambda: SqliteStore(path), **kwargs)


@settings(deadline=None, max_examples=40)  # each example opens a database and a thread
@given(st.lists(st.integers(min_value=0, max_value=50_000), min_size=1, max_size=60), st.data())
def test_whatever_the_batching_every_row_is_written_once(tmp_path_factory: pytest.TempPathFactory,
                                                          inputs: list[int], data: st.DataObject) -> None:
    path = tmp_path_factory.mktemp("ledger") / "usage.sqlite3"
    ledger = _ledger(path)
    rows = [entry(time=time.time(), input_tokens=n, cached_input_tokens=n // 2) for n in inputs]
    pauses = data.draw(st.sets(st.integers(min_value=0, max_value=len(rows))))
    for position, row in enumerate(rows):
        if position in pauses:
            time.sleep(0.002)  # lets the writer take a batch here
        ledger.record(row)
    ledger.close()
    assert _stored(path).totals == totals_of(rows) == ledger.tally.totals


def test_a_full_queue_drops_rows_with_one_warning_and_never_blocks(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    gate_open = False

    class SlowStore(SqliteStore):
        def record(self, entries: Sequence[UsageEntry]) -> None:
            while not gate_open:
                time.sleep(0.001)
            super().record(entries)

    path = tmp_path / "usage.sqlite3"
    ledger = Ledger(lambda: SlowStore(path), queue_size=5)
    caplog.set_level(logging.WARNING, "codexglm.server.ledger")
    started = time.monotonic()
    for _ in range(50):
        ledger.record(entry(time=time.time()))
    assert time.monotonic() - started < 1.0
    gate_open = True
    ledger.close()
    assert ledger.tally.totals.requests == 50  # the exit line still counts them all
    assert ledger.dropped == 50 - _stored(path).totals.requests > 0
    assert [r.getMessage() for r in caplog.records].count(
        "usage ledger queue is full (5 rows); rows are being dropped") == 1


def unwritable_dir(tmp_path: Path) -> Path:
    """A state dir nobody can write: read-only (0500), or, for root, which writes
    anywhere, one whose parent is a regular file."""
    state = tmp_path / "state"
    state.mkdir(mode=0o500)
    if os.access(state, os.W_OK):
        blocker = tmp_path / "not-a-dir"
        blocker.write_text("")
        return blocker / "state"
    return state


def test_a_read_only_state_dir_is_one_warning_and_the_tally_still_counts(tmp_path: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    state = unwritable_dir(tmp_path)
    caplog.set_level(logging.WARNING, "codexglm.server.ledger")
    ledger = _ledger(state / "usage.sqlite3")
    for _ in range(3):
        ledger.record(entry())
        time.sleep(0.01)
    ledger.close()
    assert ledger.tally.totals.requests == 3 and ledger.dropped == 3
    assert ledger.error is not None and "cannot open" in ledger.error
    assert len(caplog.records) == 1 and "usage not recorded: cannot open" in caplog.records[0].getMessage()


def test_a_failing_write_is_one_warning_per_kind(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    class FullDisk(SqliteStore):
        def record(self, entries: Sequence[UsageEntry]) -> None:
            raise LedgerError(f"cannot write {self.path}: database or disk is full")

    caplog.set_level(logging.WARNING, "codexglm.server.ledger")
    ledger = Ledger(lambda: FullDisk(tmp_path / "usage.sqlite3"))
    for _ in range(5):
        ledger.record(entry())
        time.sleep(0.01)
    ledger.close()
    assert ledger.dropped == 5 and "disk is full" in (ledger.error or "")
    assert len(caplog.records) == 1


def test_a_file_locked_past_the_busy_timeout_loses_that_batch_only(tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "usage.sqlite3"
    SqliteStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process in the middle of a long write
    caplog.set_level(logging.WARNING, "codexglm.server.ledger")
    ledger = Ledger(lambda: SqliteStore(path, busy_timeout=0.2))
    started = time.monotonic()
    ledger.record(entry(time=time.time()))
    assert time.monotonic() - started < 0.1  # the request never waits for the lock
    deadline = time.monotonic() + 10
    while ledger.error is None and time.monotonic() < deadline:
        time.sleep(0.02)
    holder.execute("ROLLBACK")
    holder.close()
    assert ledger.error is not None and "locked" in ledger.error
    ledger.record(entry(time=time.time()))
    ledger.close(timeout=5)
    assert ledger.error is None and ledger.dropped == 1
    assert _stored(path).totals.requests == 1
    assert len(caplog.records) == 1


def test_an_idle_writer_ends_and_the_next_row_starts_another(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("codexglm.ledger.writer.IDLE_SECONDS", 0.05)
    path = tmp_path / "usage.sqlite3"
    ledger = _ledger(path)
    ledger.record(entry(time=time.time()))
    deadline = time.monotonic() + 10
    while ledger._thread is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ledger._thread is None  # no thread lingers in a quiet proxy
    assert _stored(path).totals.requests == 1
    ledger.record(entry(time=time.time()))
    ledger.close()
    assert _stored(path).totals.requests == 2 and ledger.dropped == 0


def test_no_store_means_nothing_written_but_the_run_is_counted(tmp_path: Path) -> None:
    ledger = Ledger(None)
    ledger.record(entry(), [window("5-hour", 300, 40, NOW + 60)])
    ledger.close()
    assert ledger.tally.totals.requests == 1 and ledger.tally.windows[0].used_percent == 40
    assert list(tmp_path.iterdir()) == []


_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from codexglm.ledger.entry import UsageEntry
    from codexglm.ledger.store import SqliteStore
    from codexglm.ledger.writer import Ledger
    path, tag, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    ledger = Ledger(lambda: SqliteStore(path))
    while not Path(sys.argv[4]).exists():
        time.sleep(0.005)
    for i in range(count):
        ledger.record(UsageEntry(time=time.time(), provider="glm", model="glm-5.1", endpoint="coding",
                                 session_id=tag, input_tokens=1, output_tokens=1))
        if i % 50 == 0:
            time.sleep(0.001)
    ledger.close(timeout=30)
    print(ledger.dropped, ledger.error)
    """
)


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path, go = tmp_path / "usage.sqlite3", tmp_path / "go"
    count = 1500
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), tag, str(count), str(go)],
                              stdout=subprocess.PIPE, text=True) for tag in ("a", "b")]
    time.sleep(0.3)
    go.touch()
    outputs = [proc.communicate(timeout=60)[0].strip() for proc in procs]
    assert outputs == ["0 None", "0 None"]
    store = SqliteStore(path, read_only=True)
    groups = {g.key: g.totals.requests for g in store.report(0, "session").groups}
    store.close()
    assert groups == {"a": count, "b": count}


# --- reports -------------------------------------------------------------------------------


def test_since_names_a_start_time() -> None:
    assert since_start("5h", NOW, None) == NOW - 5 * 3600
    assert since_start("30d", NOW, None) == NOW - 30 * 86_400
    midnight = datetime.fromtimestamp(NOW).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    assert since_start("today", NOW, None) == midnight
    windows = [window("weekly", 10_080, 3, NOW + 86_400), window("5-hour", 300, 12, NOW + 3600)]
    assert since_start("window", NOW, windows) == NOW + 3600 - 5 * 3600
    for bad in ("5", "yesterday", "-5h", "1w"):
        with pytest.raises(SinceError, match="--since must be"):
            since_start(bad, NOW, None)


def test_a_plan_window_that_has_reset_is_not_the_current_one() -> None:
    assert current_window_start([window("5-hour", 300, 12, NOW - 1)], NOW) is None
    with pytest.raises(SinceError, match="no current plan window"):
        since_start("window", NOW, [])


def _report() -> Report:
    rows = [entry(model="glm-5.1", input_tokens=2_000_000, cost_usd=2.0), entry(model="glm-4.7", cost_usd=0.5, plan=False),
            entry(model="glm-4.7-flash-but-with-a-long-name", outcome="server_error", cost_usd=None)]
    from codexglm.ledger.store import Group

    groups = [Group(row.model, totals_of([row])) for row in rows]
    return Report(totals_of(rows), groups)


def test_the_table_fits_80_columns_with_a_bar_per_row() -> None:
    report = _report()
    report.windows = [window("5-hour", 300, 12, NOW + 600), window("weekly", 10_080, 31.5, NOW + 4 * 86_400)]
    report.windows_seen = NOW - 60
    text = report_table(report, "model", "since 7d", color=False, now=NOW)
    assert "  weekly 31.5% (resets " in text
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    rows = [line for line in lines if line.startswith("glm-")]
    assert len(rows) == 3 and all("█" in row or "▏" in row for row in rows)
    assert rows[0].count("█") > rows[1].count("█")  # the bars scale with the tokens
    assert "glm-4.7-flash-but…" in text and "\x1b[" not in text
    assert "1 failed request(s) included" in text and "not billed" in text
    assert "\x1b[36m" in report_table(_report(), "model", "since 7d", color=True)


def test_json_and_csv_carry_the_totals_and_the_rows() -> None:
    document = json.loads(report_json(_report(), "model", NOW))
    assert set(document["totals"]) >= {"requests", "input_tokens", "cached_input_tokens", "output_tokens",
                                        "reasoning_output_tokens", "cost_usd"}
    assert document["totals"]["requests"] == 3 and document["totals"]["cost_usd"] == 0.5
    assert [row["model"] for row in document["rows"]] == ["glm-5.1", "glm-4.7", "glm-4.7-flash-but-with-a-long-name"]
    lines = report_csv(_report(), "model").splitlines()
    assert lines[0].startswith("model,requests,input_tokens,cached_input_tokens,output_tokens") and len(lines) == 4


def test_the_exit_line_says_what_the_run_used_and_how_to_resume() -> None:
    tally = RunTally()
    tally.add(entry(input_tokens=24_500, cached_input_tokens=20_900, output_tokens=47, cost_usd=0.0123))
    tally.windows = [window("weekly", 10_080, 3, NOW + 3 * 86_400), window("5-hour", 300, 12, NOW + 600)]
    line = exit_line(tally, NOW)
    assert line is not None and "\n" not in line
    assert line.startswith("codexglm: 1 request · 24.5k in (20.9k cached), 47 out · plan usage worth ≈$0.01")
    clock = datetime.fromtimestamp(NOW + 600).strftime("%H:%M")
    assert f"plan 5-hour 12% (resets {clock}), weekly 3% (resets " in line
    assert line.endswith(f"resume: codexglm resume {SESSION}")


def test_the_exit_line_shows_cash_for_pay_as_you_go_and_nothing_for_an_idle_run() -> None:
    assert exit_line(RunTally(), NOW) is None
    tally = RunTally()
    tally.add(entry(plan=False, cost_usd=0.5, session_id=None))
    line = exit_line(tally, NOW)
    assert line is not None and "≈$0.50" in line and "plan" not in line and "resume" not in line
    tally.add(entry(plan=False, cost_usd=None, model="glm-9"))
    assert "≈$0.50 + 1 on models without a known price" in (exit_line(tally, NOW) or "")


# --- doctor --------------------------------------------------------------------------------


def test_doctor_says_whether_the_ledger_is_kept_and_readable(tmp_path: Path) -> None:
    from codexglm.doctor.local import ledger_check
    from codexglm.doctor.report import Status
    from codexglm.settings import Settings

    settings = Settings(log_dir=str(tmp_path))
    env = {"HOME": str(tmp_path)}
    assert "none yet" in ledger_check(settings, env, NOW).message
    assert "off" in ledger_check(settings.replace(usage_ledger=False), env, NOW).message
    store = SqliteStore(tmp_path / "usage.sqlite3")
    store.record([entry(time=NOW - 86_400), entry(time=NOW - 40 * 86_400)])
    store.close()
    check = ledger_check(settings, env, NOW)
    assert check.status is Status.OK and check.message == f"~/usage.sqlite3: 1 requests in the last 30 days (schema v{SCHEMA_VERSION})"
    (tmp_path / "usage.sqlite3").write_bytes(b"garbage" * 1000)
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"usage.sqlite3{suffix}").unlink(missing_ok=True)
    broken = ledger_check(settings, env, NOW)
    assert broken.status is Status.WARN and "Move" in broken.fix


def test_rows_a_database_outage_refused_are_written_when_it_is_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer, "RETRY_SECONDS", 0.05)
    outage = {"left": 3}

    class Flaky(SqliteStore):
        def record(self, entries: Sequence[UsageEntry]) -> None:
            if outage["left"]:
                outage["left"] -= 1
                raise LedgerError("database down", passing=True)
            super().record(entries)

    path = tmp_path / "usage.sqlite3"
    ledger = Ledger(lambda: Flaky(path))
    for _ in range(4):
        ledger.record(entry())
    deadline = time.monotonic() + 10
    while _stored_count(path) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    ledger.close()
    assert outage["left"] == 0 and _stored(path).totals.requests == 4 and ledger.dropped == 0
    assert ledger.error is None


def test_rows_still_refused_when_the_writer_stops_are_counted_as_dropped(tmp_path: Path) -> None:
    class Down(SqliteStore):
        def record(self, entries: Sequence[UsageEntry]) -> None:
            raise LedgerError("database down", passing=True)

    ledger = Ledger(lambda: Down(tmp_path / "usage.sqlite3"))
    ledger.record(entry())
    ledger.record(entry())
    started = time.monotonic()
    ledger.close(timeout=3)
    assert time.monotonic() - started < 3.5  # bounded: close never waits for the database
    assert ledger.dropped == 2 and "database down" in (ledger.error or "")


def _stored_count(path: Path) -> int:
    try:
        return _stored(path).totals.requests
    except LedgerError:
        return 0


def test_rows_arriving_together_share_one_transaction(tmp_path: Path) -> None:
    transactions: list[int] = []

    class CountingStore(SqliteStore):
        def record(self, entries: Sequence[UsageEntry]) -> None:
            transactions.append(len(entries))
            super().record(entries)

    path = tmp_path / "usage.sqlite3"
    ledger = Ledger(lambda: CountingStore(path))
    for _ in range(20):  # a busy gateway: a request finishing every few milliseconds
        ledger.record(entry(time=time.time()))
        time.sleep(0.002)
    ledger.close()
    assert sum(transactions) == 20 and len(transactions) <= 2, transactions


def test_close_does_not_wait_for_the_gathering_interval(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("codexglm.ledger.writer.GATHER_SECONDS", 60.0)
    ledger = Ledger(lambda: SqliteStore(tmp_path / "usage.sqlite3"))
    ledger.record(entry(time=time.time()))
    ledger.close(timeout=10)  # would give up after 10 s if the writer sat out the minute
    assert _stored(tmp_path / "usage.sqlite3").totals.requests == 1


def test_settle_writes_what_was_recorded_without_waiting_for_the_gathering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "GATHER_SECONDS", 60.0)
    path = tmp_path / "usage.sqlite3"
    ledger = Ledger(lambda: SqliteStore(path))
    assert ledger.settle(timeout=0)  # nothing recorded: nothing to wait for
    ledger.record(entry())
    ledger.record(entry())
    assert ledger.settle(timeout=10) and _stored_count(path) == 2
    ledger.record(entry())  # a later row is gathered again, and settled again
    assert ledger.settle(timeout=10) and _stored_count(path) == 3
    ledger.close()


def test_settle_gives_up_after_its_timeout_while_the_database_is_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "RETRY_SECONDS", 0.05)

    class Down(SqliteStore):
        def record(self, entries: Sequence[UsageEntry]) -> None:
            raise LedgerError("database down", passing=True)

    ledger = Ledger(lambda: Down(tmp_path / "usage.sqlite3"))
    ledger.record(entry())
    started = time.monotonic()
    assert not ledger.settle(timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 3
    ledger.close(timeout=3)
    assert ledger.dropped == 1
