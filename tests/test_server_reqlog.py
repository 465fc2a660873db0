"""The JSONL request log: records, rotation, size caps, redaction, failure tolerance."""

from __future__ import annotations

import json
from pathlib import Path

from codexglm.server.reqlog import BODY_CAP, Redactor, RequestLog, log_path
from codexglm.settings import Settings

SECRET = "zai-secret-key-0123456789abcdef"


def _log(tmp_path: Path, **kwargs: int) -> RequestLog:
    options = {"max_bytes": 10_000, "backups": 2, **kwargs}
    return RequestLog(tmp_path / "requests.jsonl", redact=Redactor([SECRET, "proxy-token-xyz"]), **options)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_records_are_json_lines_with_a_timestamp(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.write({"id": "req_1", "outcome": "completed"})
    log.write({"id": "req_2", "outcome": "failed"})
    log.close()
    records = _lines(tmp_path / "requests.jsonl")
    assert [r["id"] for r in records] == ["req_1", "req_2"]
    assert records[0]["time"].endswith("+00:00")
    assert (tmp_path / "requests.jsonl").stat().st_mode & 0o777 == 0o600


def test_rotation_keeps_the_configured_number_of_backups(tmp_path: Path) -> None:
    log = _log(tmp_path, max_bytes=4096, backups=2)
    for i in range(200):
        log.write({"id": f"req_{i}", "pad": "x" * 100})
    log.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["requests.jsonl", "requests.jsonl.1", "requests.jsonl.2"]
    for name in files:
        assert (tmp_path / name).stat().st_size <= 4096
    # Newest records in the live file, older ones in .1: nothing is reordered.
    newest = _lines(tmp_path / "requests.jsonl")[-1]["id"]
    older = _lines(tmp_path / "requests.jsonl.1")[-1]["id"]
    assert newest == "req_199" and int(older.split("_")[1]) < 199


def test_an_existing_oversized_log_is_rotated_on_open(tmp_path: Path) -> None:
    (tmp_path / "requests.jsonl").write_text("x" * 5000 + "\n")
    log = _log(tmp_path, max_bytes=4096)
    log.write({"id": "req_new"})
    log.close()
    assert [r["id"] for r in _lines(tmp_path / "requests.jsonl")] == ["req_new"]
    assert (tmp_path / "requests.jsonl.1").stat().st_size == 5001


def test_bodies_are_redacted_and_capped(tmp_path: Path) -> None:
    log = _log(tmp_path)
    text = f'{{"key": "{SECRET}", "auth": "Bearer abcdefghijklmnop", "token": "proxy-token-xyz"}}'
    cleaned = log.body(text)
    assert SECRET not in cleaned and "proxy-token-xyz" not in cleaned and "abcdefghijklmnop" not in cleaned
    assert "****cdef" in cleaned  # at most the last four characters survive
    big = log.body(b"y" * (BODY_CAP * 2))
    assert len(big) < BODY_CAP + 100 and big.endswith("[truncated]")


def test_write_failures_are_reported_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    log = RequestLog(blocker / "requests.jsonl", max_bytes=10_000, backups=1, redact=Redactor([]))
    log.write({"id": "req_1"})
    assert log.error is not None


def test_log_path_honours_settings_and_disabling(tmp_path: Path) -> None:
    settings = Settings(log_dir=str(tmp_path))
    assert log_path(settings) == tmp_path / "requests.jsonl"
    assert RequestLog.from_settings(settings.replace(log_requests=False), Redactor([])) is None
    assert log_path(Settings()).name == "requests.jsonl"
