"""Coding Plan usage windows -> Codex's rate-limit headers."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from codexglm.codex.ratelimits import codex_rate_limit_headers
from codexglm.providers.glm.quota import parse_quota
from codexglm.settings import Settings

# The monitor API's `data` object (shape from api.md §1.2): a 5-hour and a weekly token
# window, and a monthly MCP-call window.
DATA = {
    "limits": [
        {"type": "TIME_LIMIT", "unit": 5, "number": 1, "usage": 1000, "currentValue": 250, "nextResetTime": 1795900000000},
        {"type": "TOKENS_LIMIT", "unit": 6, "number": 1, "percentage": 12, "nextResetTime": 1795900000000},
        {"type": "TOKENS_LIMIT", "unit": 3, "number": 5, "percentage": 42.5, "nextResetTime": 1795450000000},
        "junk",
    ],
    "level": "pro",
}
ANSWER = {"code": 200, "msg": "ok", "success": True, "data": DATA}


def test_windows_are_parsed_with_length_and_names() -> None:
    windows = parse_quota(ANSWER)
    assert [(w.kind, w.minutes, w.name, w.used_percent) for w in windows] == [
        ("TIME_LIMIT", 43200, "monthly", 25.0),
        ("tokens", 10080, "weekly", 12.0),
        ("tokens", 300, "5-hour", 42.5),
    ]
    assert windows[2].resets_at == 1795450000


def test_token_windows_become_primary_and_secondary_shortest_first() -> None:
    assert codex_rate_limit_headers(parse_quota(ANSWER)) == {
        "x-codex-primary-used-percent": "42.5",
        "x-codex-primary-window-minutes": "300",
        "x-codex-primary-reset-at": "1795450000",
        "x-codex-secondary-used-percent": "12",
        "x-codex-secondary-window-minutes": "10080",
        "x-codex-secondary-reset-at": "1795900000",
    }


def test_nothing_usable_gives_no_headers() -> None:
    assert codex_rate_limit_headers(parse_quota({})) == {}
    assert codex_rate_limit_headers(parse_quota({**ANSWER, "success": False})) == {}
    odd_unit = {"success": True, "data": {"limits": [{"type": "TOKENS_LIMIT", "unit": 99}]}}
    assert codex_rate_limit_headers(parse_quota(odd_unit)) == {}


def test_malformed_answers_from_the_review_yield_nothing_rather_than_raising() -> None:
    assert parse_quota({"success": True, "data": {"limits": 5}}) == []
    huge = {"success": True, "data": {"limits": [{"type": "TOKENS_LIMIT", "unit": 1e400, "number": 1e400,
                                                  "percentage": 1e400, "nextResetTime": 1e400}]}}
    (window,) = parse_quota(json.loads(json.dumps(huge)))
    assert window.minutes is None and window.used_percent is None and window.resets_at is None
    assert codex_rate_limit_headers([window]) == {}


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["type", "unit", "number", "percentage", "currentValue", "usage", "nextResetTime", "x"]),
        inner, max_size=6),
    max_leaves=20,
)


@given(st.fixed_dictionaries({"success": st.just(True), "data": st.fixed_dictionaries({"limits": _json})}) | _json)
def test_the_parser_is_total(document: object) -> None:
    windows = parse_quota(document)
    assert isinstance(codex_rate_limit_headers(windows), dict)


def test_quota_url_follows_region_and_overrides() -> None:
    assert Settings().quota_url == "https://api.z.ai/api/monitor/usage/quota/limit"
    assert Settings(region="china").quota_url == "https://open.bigmodel.cn/api/monitor/usage/quota/limit"
    assert Settings(coding_base_url="http://127.0.0.1:9/api/coding/paas/v4").quota_url == "http://127.0.0.1:9/api/monitor/usage/quota/limit"
