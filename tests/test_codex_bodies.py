"""Every request body recorded from a real Codex (tests/fixtures/codex-bodies/<version>/,
see tests/codex_bodies.py) translates with no unknown field, item or tool type, into a
chat body the strict mock GLM accepts: a new Codex's new shape fails here first."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from codexglm.codex.version import MIN_CODEX, VERIFIED_CODEX, format_version, parse_version
from codexglm.translate import build_chat_request
from tests import codex_bodies
from tests import codex_fixtures as cf
from tests.mockglm import _validate as glm_refusal
from tests.test_request import check_glm_sequence

BODIES = codex_bodies.fixtures()


def test_the_corpus_covers_both_ends_and_the_pin() -> None:
    versions = {path.parent.name for path in BODIES}
    assert {format_version(MIN_CODEX), format_version(VERIFIED_CODEX)} <= versions
    assert len(versions) >= 3
    assert all(parse_version(version) for version in versions)


@pytest.mark.parametrize("path", BODIES, ids=[f"{p.parent.name}/{p.stem}" for p in BODIES])
def test_recorded_body_translates_without_unknowns(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    body = json.loads(path.read_text())
    with caplog.at_level(logging.INFO, logger="codexglm.translate"):
        translated = build_chat_request(body, cf.options()).body
    unknown = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert unknown == [], f"{path}: Codex sends something without a rule: {unknown}"
    check_glm_sequence(translated["messages"])
    assert glm_refusal(translated) is None, glm_refusal(translated)


def test_scrubbing_leaves_no_machine_paths_or_prompts() -> None:
    body = {"input": [
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "<environment_context><cwd>/tmp/sbx/work</cwd></environment_context>"},
            {"type": "input_text", "text": "my private prompt"},
            {"type": "input_image", "image_url": "data:image/png;base64," + "A" * 5000}]},
        {"type": "reasoning", "encrypted_content": "openai-opaque-blob", "summary": []},
        {"type": "function_call_output", "call_id": "c", "output": "id 0ce96e5f-fb47-51b3-b825-5068de41ccaf in /tmp/sbx/x"}],
        "instructions": "x" * 5000}
    scrubbed = codex_bodies.scrub(body, "/tmp/sbx")
    text = json.dumps(scrubbed)
    assert "/tmp/sbx" not in text and "my private prompt" not in text and "openai-opaque-blob" not in text
    assert "0ce96e5f" not in text and len(text) < 2000
    assert "<cwd>/sandbox/work</cwd>" in text
    assert codex_bodies.shape(scrubbed) == codex_bodies.shape(body)  # scrubbing keeps the shape
