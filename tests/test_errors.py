"""Classification of GLM failures and what Codex is told about them."""

from __future__ import annotations

import functools
import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codexglm.providers import GLM
from codexglm.providers import base as errors
from codexglm.translate import errors as translate_errors
from codexglm.translate.errors import RequestError, UpstreamError, error_body, is_error_document

classify_error = functools.partial(translate_errors.classify_error, GLM)
transport_error = functools.partial(translate_errors.transport_error, GLM)

# Codex 0.169 parses the delay of a rate_limit_exceeded error with this expression.
CODEX_RETRY_RE = re.compile(r"(?i)try again in\s*(\d+(?:\.\d+)?)\s*(s|ms|seconds?)")
UTC = timezone.utc

# Bodies as Z.ai / BigModel return them (HTTP status, body).
AUTH_1002 = (401, b'{"error":{"code":"1002","message":"Authorization Token is invalid, please ensure that the '
                  b'Authorization Token is correctly provided."}}')
PARAM_1210 = (400, b'{"error":{"code":"1210","message":"Invalid API parameter, please check the documentation."}}')
MESSAGES_1214 = (400, b'{"error":{"code":"1214","message":"The messages parameter is illegal. Please check the '
                      b'documentation."}}')
MESSAGES_1214_CN = (400, '{"error":{"code":"1214","message":"messages 参数非法。请检查文档。"}}'.encode())
MODEL_1211 = (400, b'{"error":{"code":"1211","message":"Unknown Model, please check the model code."}}')
MODEL_1211_CN = (400, '{"error":{"code":"1211","message":"模型不存在，请检查模型代码。"}}'.encode())
PROMPT_1261 = (400, b'{"error":{"code":"1261","message":"Prompt too long"}}')
PROMPT_1261_CN = (400, b'{"error":{"code":"1261","message":"Prompt exceeds max length"}}')
FILTER_1301 = (400, b'{"contentFilter":[{"level":1,"role":"user"}],"error":{"code":"1301","message":"The system '
                    b'has detected that the input or generated content may contain unsafe or sensitive content. '
                    b'Please avoid inputting prompts that are likely to produce sensitive content. Thank you for '
                    b'your cooperation."}}')
FILTER_1301_CN = (400, '{"contentFilter":[{"level":2,"role":"user"}],"error":{"code":"1301","message":'
                       '"系统检测到输入或生成内容可能包含不安全或敏感内容"}}'.encode())
BALANCE_1113 = (429, b'{"error":{"code":"1113","message":"Insufficient balance or no resource package. Please '
                     b'recharge."}}')
BALANCE_1113_CN = (429, '{"error":{"code":"1113","message":"余额不足或无可用资源包,请充值。"}}'.encode())
RATE_1302 = (429, b"[1302][Rate limit reached for requests]")
OVERLOAD_1305_CN = (429, '{"error":{"code":"1305","message":"该模型当前访问量过大，请您稍后再试"}}'.encode())
OVERLOAD_1305_BARE = (429, b'{"code":"1305","message":"The service may be temporarily overloaded"}')
LIMIT_1308 = (429, b'{"error":{"code":"1308","message":"Usage limit reached for 5 hour. Your limit will reset at '
                   b'2026-05-25 19:22:49"}}')
LIMIT_1308_CN = (429, '{"error":{"code":"1308","message":"已达到 5 小时的使用上限。您的限额将在 2025-12-21 15:00:05 重置。"},'
                      '"request_id":"202512211335142b05cc4f9bbb4e6c"}'.encode())
WEEKLY_1310 = (429, b'{"error":{"code":"1310","message":"Weekly/Monthly Limit Exhausted. Your limit will reset at '
                    b'2026-03-06 22:19:54"}}')
EXPIRED_1309 = (429, b"[1309][Your GLM Coding Plan package has expired and is temporarily unavailable. You can "
                     b"resume using it after renewing the subscription on the official website.]")
LIMIT_1317 = (429, b"[1317][Usage limit reached for the past 7 days. Insufficient balance for extra usage. Resets "
                   b"at 2026-09-28 23:07:07]")
MODEL_PLAN_1311 = (429, b'{"error":{"code":"1311","message":"Your current subscription plan does not yet include '
                        b'access to glm-5"}}')
FAIR_USE_1313 = (429, b'{"error":{"code":"1313","message":"fair use violation"}}')
INTERNAL_500 = (500, b'{"error":{"code":"500","message":"Internal Error"}}')
NETWORK_1234 = (500, '{"error":{"code":"1234","message":"网络错误"}}'.encode())
ANTHROPIC_1113 = (429, b'{"type":"error","error":{"type":"rate_limit_error","code":"1113","message":"Insufficient '
                       b'balance or no resource package. Please recharge."}}')
ANTHROPIC_1308 = (429, b'{"type":"error","error":{"type":"rate_limit_error","code":"1308","message":"[1308][Usage '
                       b'limit reached for 5 hour. Your limit will reset at 2026-10-05 12:12:52]'
                       b'[20261005120002e3f1c]"}}')
GATEWAY_502 = (502, b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
                    b"Gateway</h1></center>\r\n<hr><center>nginx/1.21.6</center>\r\n</body>\r\n</html>\r\n")


@pytest.mark.parametrize(
    ("case", "code", "kind"),
    [
        (AUTH_1002, "1002", errors.AUTH),
        (PARAM_1210, "1210", errors.BAD_REQUEST),
        (MESSAGES_1214, "1214", errors.BAD_REQUEST),
        (MESSAGES_1214_CN, "1214", errors.BAD_REQUEST),
        (MODEL_1211, "1211", errors.UNKNOWN_MODEL),
        (MODEL_1211_CN, "1211", errors.UNKNOWN_MODEL),
        (PROMPT_1261, "1261", errors.CONTEXT),
        (PROMPT_1261_CN, "1261", errors.CONTEXT),
        (FILTER_1301, "1301", errors.CONTENT_FILTER),
        (FILTER_1301_CN, "1301", errors.CONTENT_FILTER),
        (BALANCE_1113, "1113", errors.PLAN),
        (BALANCE_1113_CN, "1113", errors.PLAN),
        (RATE_1302, "1302", errors.RATE_LIMIT),
        (OVERLOAD_1305_CN, "1305", errors.OVERLOADED),
        (OVERLOAD_1305_BARE, "1305", errors.OVERLOADED),
        (LIMIT_1308, "1308", errors.QUOTA),
        (LIMIT_1308_CN, "1308", errors.QUOTA),
        (WEEKLY_1310, "1310", errors.QUOTA),
        (EXPIRED_1309, "1309", errors.PLAN),
        (LIMIT_1317, "1317", errors.QUOTA),
        (MODEL_PLAN_1311, "1311", errors.PLAN),
        (FAIR_USE_1313, "1313", errors.QUOTA),
        (INTERNAL_500, "500", errors.OVERLOADED),
        (NETWORK_1234, "1234", errors.OVERLOADED),
        (ANTHROPIC_1113, "1113", errors.PLAN),
        (ANTHROPIC_1308, "1308", errors.QUOTA),
    ],
)
def test_real_bodies_are_classified(case: tuple[int, bytes], code: str, kind: str) -> None:
    status, body = case
    err = classify_error(status, body)
    assert (err.glm_code, err.status, err.kind) == (code, status, kind)
    assert f"GLM {code}" in err.message


@pytest.mark.parametrize(
    ("code", "kind"),
    [(c, errors.AUTH) for c in ("1000", "1001", "1002", "1003", "1004")]
    + [(c, errors.ACCOUNT) for c in ("1100", "1110", "1111", "1112", "1121")]
    + [(c, errors.PLAN) for c in ("1113", "1309", "1311", "1314")]
    + [(c, errors.QUOTA) for c in ("1304", "1308", "1310", "1313", "1316", "1317", "1318", "1319", "1320", "1321")]
    + [(c, errors.RATE_LIMIT) for c in ("1302", "1303")]
    + [(c, errors.OVERLOADED) for c in ("500", "1120", "1230", "1234", "1305", "1312", "2007", "3002")]
    + [("1261", errors.CONTEXT), ("1300", errors.CONTENT_FILTER), ("1301", errors.CONTENT_FILTER)]
    + [("1211", errors.UNKNOWN_MODEL)]
    + [(c, errors.BAD_REQUEST) for c in ("1200", "1210", "1212", "1213", "1214", "1215", "1220", "1221", "1222")],
)
def test_code_table(code: str, kind: str) -> None:
    # The code decides, whatever status it arrived with (1305 is also seen inside a 200 stream).
    for status in (200, 400, 429, 500, None):
        assert classify_error(status, {"error": {"code": code, "message": "m"}}).kind == kind


POLICY = {
    # kind: (retryable, rotate_key, codex_code, http_status, openai_type, body code)
    errors.AUTH: (False, True, "invalid_prompt", 401, "authentication_error", "invalid_api_key"),
    errors.ACCOUNT: (False, True, "invalid_prompt", 403, "permission_error", "account_deactivated"),
    errors.PLAN: (False, False, "invalid_prompt", 429, "insufficient_quota", "insufficient_quota"),
    errors.QUOTA: (False, True, "invalid_prompt", 429, "insufficient_quota", "insufficient_quota"),
    errors.RATE_LIMIT: (True, True, "rate_limit_exceeded", 429, "rate_limit_exceeded", "rate_limit_exceeded"),
    errors.OVERLOADED: (True, False, "server_error", 503, "server_error", "server_error"),
    errors.CONTEXT: (False, False, "context_length_exceeded", 400, "invalid_request_error", "context_length_exceeded"),
    errors.CONTENT_FILTER: (False, False, "invalid_prompt", 400, "invalid_request_error", "content_policy_violation"),
    errors.UNKNOWN_MODEL: (False, False, "invalid_prompt", 404, "invalid_request_error", "model_not_found"),
    errors.BAD_REQUEST: (False, False, "invalid_prompt", 400, "invalid_request_error", None),
    errors.NOT_FOUND: (False, False, "invalid_prompt", 404, "invalid_request_error", "not_found"),
}
KIND_SAMPLES = {
    errors.AUTH: AUTH_1002,
    errors.ACCOUNT: (401, b'{"error":{"code":"1112","message":"account locked"}}'),
    errors.PLAN: MODEL_PLAN_1311,
    errors.QUOTA: LIMIT_1308,
    errors.RATE_LIMIT: RATE_1302,
    errors.OVERLOADED: OVERLOAD_1305_CN,
    errors.CONTEXT: PROMPT_1261,
    errors.CONTENT_FILTER: FILTER_1301,
    errors.UNKNOWN_MODEL: MODEL_1211,
    errors.BAD_REQUEST: MESSAGES_1214,
    errors.NOT_FOUND: (404, b"404 page not found"),
}


@pytest.mark.parametrize("kind", sorted(POLICY))
def test_policy_per_kind(kind: str) -> None:
    err = classify_error(*KIND_SAMPLES[kind])
    assert err.kind == kind
    retryable, rotate, codex_code, http_status, openai_type, body_code = POLICY[kind]
    assert (err.retryable, err.rotate_key, err.codex_code) == (retryable, rotate, codex_code)
    assert (err.http_status, err.openai_type) == (http_status, openai_type)
    assert err.switch_endpoint is False
    body = err.to_error_body()
    assert body["error"]["message"] == err.message
    assert body["error"]["type"] == openai_type
    assert body["error"]["code"] == body_code


def test_only_1113_switches_endpoint() -> None:
    assert classify_error(*BALANCE_1113).switch_endpoint
    assert classify_error(*ANTHROPIC_1113).switch_endpoint
    assert not classify_error(*EXPIRED_1309).switch_endpoint


def test_messages_name_cause_code_glm_text_and_fix() -> None:
    auth = classify_error(*AUTH_1002).message
    assert auth.startswith("Z.ai rejected the API key (GLM 1002: Authorization Token is invalid")
    assert "ZAI_API_KEY" in auth and "codexglm login" in auth

    plan = classify_error(*BALANCE_1113).message
    assert "Insufficient balance or no resource package" in plan
    assert "/api/coding/paas/v4" in plan and "auto" in plan and "base-only" in plan

    model = classify_error(*MODEL_1211_CN).message
    assert "模型不存在，请检查模型代码" in model and "-m" in model and "GLM_DEFAULT_MODEL" in model
    assert "-m" in classify_error(*MODEL_PLAN_1311).message

    assert "too long" in classify_error(*PROMPT_1261_CN).message
    assert "JSON schema" in classify_error(*NETWORK_1234).message
    assert "fair-use" in classify_error(*FAIR_USE_1313).message


def test_content_filter_says_what_was_flagged() -> None:
    assert "It flagged your input." in classify_error(*FILTER_1301).message
    both = {"contentFilter": [{"role": "assistant"}, {"role": "history"}, {"role": "assistant"}, "x"],
            "error": {"code": "1301", "message": "unsafe"}}
    assert "It flagged the model's reply and earlier messages." in classify_error(400, both).message


def test_quota_reset_time_is_beijing_time_converted_to_utc() -> None:
    now = datetime(2026, 10, 5, 2, 9, 52, tzinfo=UTC)
    err = classify_error(*ANTHROPIC_1308, now=now)
    assert err.reset_at == datetime(2026, 10, 5, 4, 12, 52, tzinfo=UTC)
    assert err.retry_after == 2 * 3600 + 3 * 60
    assert "resets at 2026-10-05 04:12:52 UTC (GLM states Beijing time, UTC+8), in 2h 3m." in err.message
    assert "Usage limit reached for 5 hour" in err.message
    assert "20261005120002e3f1c" not in err.message  # the bracketed request id is noise


def test_quota_reset_in_chinese_message_and_without_now() -> None:
    err = classify_error(*LIMIT_1308_CN)
    assert err.reset_at == datetime(2025, 12, 21, 7, 0, 5, tzinfo=UTC)
    assert err.retry_after is None
    assert "resets at 2025-12-21 07:00:05 UTC (GLM states Beijing time, UTC+8)." in err.message
    assert "已达到 5 小时的使用上限" in err.message


@pytest.mark.parametrize(
    ("until_reset", "text"),
    [
        (timedelta(days=2, hours=5, minutes=10), "in 2d 5h"),
        (timedelta(minutes=42, seconds=10), "in 43m"),
        (timedelta(seconds=20), "in 1m"),
        (timedelta(hours=-1), "which has passed: try again now"),
    ],
)
def test_quota_duration_wording(until_reset: timedelta, text: str) -> None:
    reset = datetime(2026, 3, 6, 14, 19, 54, tzinfo=UTC)  # 22:19:54 Beijing
    err = classify_error(*WEEKLY_1310, now=reset - until_reset)
    assert text in err.message
    assert err.retry_after == max(0.0, until_reset.total_seconds())


def test_naive_now_is_taken_as_utc() -> None:
    err = classify_error(*LIMIT_1317, now=datetime(2026, 9, 28, 14, 7, 7))
    assert err.reset_at == datetime(2026, 9, 28, 15, 7, 7, tzinfo=UTC)
    assert err.retry_after == 3600


def test_quota_without_reset_time() -> None:
    err = classify_error(*FAIR_USE_1313, now=datetime(2026, 1, 1, tzinfo=UTC))
    assert err.reset_at is None and err.retry_after is None


def test_impossible_reset_time_is_ignored() -> None:
    err = classify_error(429, {"error": {"code": "1308", "message": "reset at 2026-13-45 99:00:00"}})
    assert err.kind == errors.QUOTA and err.reset_at is None


def test_rate_limit_message_is_parsed_by_codex() -> None:
    err = classify_error(*RATE_1302)
    match = CODEX_RETRY_RE.search(err.message)
    assert match is not None
    assert float(match[1]) == err.retry_after == GLM.rate_limit_retry_seconds
    assert "Rate limit reached for requests" in err.message


def test_only_rate_limits_invite_codex_to_wait_and_retry() -> None:
    for kind, sample in KIND_SAMPLES.items():
        err = classify_error(*sample, now=datetime(2026, 5, 25, tzinfo=UTC))
        assert (CODEX_RETRY_RE.search(err.message) is not None) == (kind == errors.RATE_LIMIT), kind


def test_in_stream_error_frames() -> None:
    frame = {"error": {"code": 1302, "message": "[1302][Rate limit reached for requests][2026081114373679]"}}
    err = classify_error(None, frame)
    assert (err.glm_code, err.status, err.kind) == ("1302", None, errors.RATE_LIMIT)
    assert "2026081114373679" not in err.message
    assert classify_error(200, {"error": {"code": "1305", "message": "busy"}}).kind == errors.OVERLOADED
    # A frame with no usable code is a transient upstream failure.
    assert classify_error(None, {"error": {"message": "boom"}}).kind == errors.OVERLOADED


def test_bracketed_code_fills_in_a_missing_code_only() -> None:
    assert classify_error(429, {"error": {"message": "[1308][Usage limit reached]"}}).glm_code == "1308"
    assert classify_error(429, {"error": {"code": "1310", "message": "[1308][x]"}}).glm_code == "1310"
    text = "API Error: Request rejected (429) · [1309][Your GLM Coding Plan package has expired][abc]"
    assert classify_error(429, text).kind == errors.PLAN


def test_gateway_html_is_reduced_to_its_title() -> None:
    status, body = GATEWAY_502
    err = classify_error(status, body)
    assert err.kind == errors.OVERLOADED and err.retryable and err.codex_code == "server_error"
    assert "(HTTP 502: 502 Bad Gateway)" in err.message
    assert "<" not in err.message
    untitled = classify_error(503, "<html><body><h1>Service   Unavailable</h1></body></html>")
    assert "(HTTP 503: Service Unavailable)" in untitled.message


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (None, errors.OVERLOADED), (200, errors.OVERLOADED), (400, errors.BAD_REQUEST),
        (401, errors.AUTH), (403, errors.ACCOUNT), (404, errors.NOT_FOUND), (408, errors.OVERLOADED),
        (413, errors.CONTEXT), (422, errors.BAD_REQUEST), (429, errors.RATE_LIMIT), (434, errors.PLAN),
        (500, errors.OVERLOADED), (502, errors.OVERLOADED), (503, errors.OVERLOADED), (504, errors.OVERLOADED),
    ],
)
def test_status_decides_when_the_code_is_unknown(status: int | None, kind: str) -> None:
    assert classify_error(status, None).kind == kind
    assert classify_error(status, {"error": {"code": "9999", "message": "new"}}).kind == kind


def test_unknown_429_code_with_reset_time_is_quota() -> None:
    body = {"error": {"code": "1322", "message": "Monthly spend cap hit. Resets at 2026-11-01 00:00:00"}}
    err = classify_error(429, body, now=datetime(2026, 10, 31, 15, 0, tzinfo=UTC))
    assert err.kind == errors.QUOTA and err.retry_after == 3600


def test_empty_bodies_use_the_status_phrase() -> None:
    assert "(HTTP 503 Service Unavailable)" in classify_error(503, b"").message
    assert "(HTTP 599)" in classify_error(599, None).message
    assert "(no details given)" in classify_error(None, None).message


def test_odd_body_shapes() -> None:
    assert "(HTTP 400: quota gone)" in classify_error(400, {"error": "quota gone"}).message
    assert '"detail": "nope"' in classify_error(400, {"detail": "nope"}).message
    assert "GLM 1214" in classify_error(400, bytearray(b'{"error":{"code":"1214"}}')).message
    assert "[1, 2]" in classify_error(400, "[1, 2]").message
    assert classify_error(400, {"error": {"code": True, "message": "x"}}).glm_code is None
    assert classify_error(400, {"error": {"code": " ", "message": "x"}}).glm_code is None
    assert "bad\ufffd" in classify_error(400, b"bad\xff").message
    nested = classify_error(400, {"error": {"code": "1214", "message": {"field": "messages"}}})
    assert '{"field": "messages"}' in nested.message


def test_whitespace_is_collapsed_and_long_text_truncated() -> None:
    err = classify_error(400, {"error": {"code": "1214", "message": "a\n\n  b  " + "x" * 1000}})
    assert "a b x" in err.message
    assert "x" * 400 not in err.message and "…" in err.message


def test_bearer_tokens_are_masked() -> None:
    body = b"upstream said: Authorization: Bearer abcdef0123456789.secretsecret was rejected"
    err = classify_error(401, body)
    assert "secretsecret" not in err.message and "Bearer ****" in err.message
    assert "secretsecret" not in transport_error("GET with bearer abc.secretsecret failed").message


def test_transport_error() -> None:
    err = transport_error("ConnectError: [Errno -2] Name or service not known")
    assert err == UpstreamError(
        glm_code=None, status=None, kind=errors.TRANSPORT,
        message="cannot reach GLM: ConnectError: [Errno -2] Name or service not known",
        retryable=True, rotate_key=False, switch_endpoint=False, codex_code="server_error",
        http_status=502, openai_type="server_error",
    )
    assert err.to_error_body()["error"]["type"] == "server_error"


def test_upstream_error_is_frozen_and_unknown_kinds_have_no_body_code() -> None:
    err = UpstreamError(None, None, "internal", "m", False, False, False, "server_error", 500, "server_error")
    with pytest.raises(AttributeError):
        err.kind = "x"  # type: ignore[misc]
    assert err.to_error_body() == {"error": {"message": "m", "type": "server_error", "param": None, "code": None}}


def test_error_body_and_request_error() -> None:
    assert error_body("bad input", code="invalid_value", param="input") == {
        "error": {"message": "bad input", "type": "invalid_request_error", "param": "input", "code": "invalid_value"}
    }
    assert error_body("x", "server_error") == {
        "error": {"message": "x", "type": "server_error", "param": None, "code": None}
    }
    exc = RequestError("input must be a list", "input")
    assert isinstance(exc, ValueError)
    assert (exc.message, exc.param, str(exc)) == ("input must be a list", "input", "input must be a list")
    assert RequestError("m").param is None


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
_bodies = st.one_of(
    st.none(),
    st.binary(max_size=200),
    st.text(max_size=200),
    _json.map(lambda value: json.dumps(value)),
    st.dictionaries(st.sampled_from(["error", "code", "message", "contentFilter", "x"]), _json, max_size=4),
    st.fixed_dictionaries({"error": st.dictionaries(st.sampled_from(["code", "message", "type"]), _json)}),
)


@settings(max_examples=400)
@given(st.one_of(st.none(), st.integers(min_value=100, max_value=599)), _bodies)
def test_classify_never_raises(status: int | None, body: object) -> None:
    err = classify_error(status, body, now=datetime(2026, 1, 1, tzinfo=UTC))  # type: ignore[arg-type]
    assert err.message and err.kind in POLICY
    assert err.to_error_body()["error"]["message"] == err.message
    json.dumps(err.to_error_body())


@pytest.mark.parametrize(
    ("document", "expected"),
    [({"error": {"code": "1305", "message": "busy"}}, True), ({"error": "[1302][Rate limit]"}, True),
     ({"error": None, "choices": []}, False), ({"error": {}}, False), ({"error": {"code": "1"}, "choices": [{}]}, False),
     ({"choices": []}, False), ([], False), ("error", False)],
)
def test_is_error_document(document: object, expected: bool) -> None:
    assert is_error_document(document) is expected
