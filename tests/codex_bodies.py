"""The corpus of real Codex request bodies: recorded by the end-to-end tests, kept as
scrubbed fixtures under tests/fixtures/codex-bodies/<codex version>/, replayed by
tests/test_codex_bodies.py.

Recording: `CODEXGLM_RECORD_BODIES=tests/fixtures/codex-bodies python -m pytest -m e2e`
(with `CODEXGLM_TEST_CODEX` for another Codex).  Every body the proxy received is scrubbed
(the sandbox's paths, the prompts the tests typed, long texts such as Codex's own prompt,
images, ids) and kept only if its shape (fields, item types, tool types, content part
types) is new for that version, so the corpus stays small and each file shows something.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RECORD_ENV = "CODEXGLM_RECORD_BODIES"
FIXTURES = Path(__file__).parent / "fixtures" / "codex-bodies"
_REPO = str(Path(__file__).resolve().parents[1])
_LONG = 600  # longer strings keep their first characters only
_TINY_PNG = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
_UUID = re.compile(r"(?<![0-9a-f])[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![0-9a-f])")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
# Codex's own context blocks in user messages; anything else a user message says is a prompt.
_CODEX_BLOCK = re.compile(r"^\s*(<[a-z_]+[ >]|# AGENTS\.md)")


def scrub(body: Any, sandbox: str) -> Any:
    """BODY without anything of the machine or the test that recorded it."""
    replacements = [(sandbox, "/sandbox"), (_REPO, "/repo"), (sys.executable, "/usr/bin/python3"),
                    (os.path.expanduser("~") + "/", "/home/user/")]

    def text(value: str) -> str:
        if value.startswith("data:image/"):
            return _TINY_PNG
        for old, new in replacements:
            value = value.replace(old, new)
        value = _DATE.sub("2026-01-01", _UUID.sub("00000000-0000-0000-0000-000000000000", value))
        return value if len(value) <= _LONG else value[:200] + " ...[scrubbed]"

    def walk(value: Any, in_user_message: bool = False) -> Any:
        if isinstance(value, str):
            return text(value)
        if isinstance(value, list):
            return [walk(v, in_user_message) for v in value]
        if not isinstance(value, dict):
            return value
        user = in_user_message or (value.get("type") in ("message", None) and value.get("role") == "user")
        out = {}
        for key, item in value.items():
            if user and key == "text" and isinstance(item, str) and not _CODEX_BLOCK.match(item):
                out[key] = "(prompt)"
            elif key == "encrypted_content" and isinstance(item, str) and not item.startswith("codexglm."):
                out[key] = "(encrypted)"
            else:
                out[key] = walk(item, user and key == "content")
        return out

    return walk(body)


def shape(body: Any) -> str:
    """What a body is made of, ignoring its values: what a new Codex could change."""
    found: set[str] = set()

    def walk(value: Any, where: str) -> None:
        if isinstance(value, list):
            for item in value:
                walk(item, where)
        elif isinstance(value, dict):
            kind = value.get("type")
            here = f"{where}/{kind}" if isinstance(kind, str) else where
            found.add(f"{here}:{','.join(sorted(value))}")
            for key, item in value.items():
                if key not in ("properties", "parameters", "schema", "format", "defs", "$defs"):
                    walk(item, f"{here}.{key}")

    walk(body, "")
    return hashlib.sha256("\n".join(sorted(found)).encode()).hexdigest()[:12]


def record(log: Path, sandbox: str, version: str, test: str) -> None:
    """Keep the new shapes among the Responses bodies in the proxy's request LOG."""
    target = Path(os.environ[RECORD_ENV]) / version
    target.mkdir(parents=True, exist_ok=True)
    known = {shape(json.loads(path.read_text())) for path in target.glob("*.json")}
    for index, body in enumerate(_logged_bodies(log)):
        scrubbed = scrub(body, sandbox)
        signature = shape(scrubbed)
        if signature not in known:
            known.add(signature)
            name = re.sub(r"[^a-z0-9]+", "-", test.lower()).strip("-")[:60]
            (target / f"{name}-{index}.json").write_text(json.dumps(scrubbed, indent=1, ensure_ascii=False) + "\n")


def _logged_bodies(log: Path) -> Iterator[dict[str, Any]]:
    if not log.exists():
        return
    for line in log.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if not str(entry.get("path", "")).endswith("/responses") or not isinstance(entry.get("request"), str):
            continue
        try:
            body = json.loads(entry["request"])
        except ValueError:
            continue  # capped in the log: too long to keep
        if isinstance(body, dict):
            yield body


def fixtures() -> list[Path]:
    return sorted(FIXTURES.glob("*/*.json"))
