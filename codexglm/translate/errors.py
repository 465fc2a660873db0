"""GLM failures, classified once: what the proxy does about them and what Codex shows.

`_CODES` maps each GLM business code to a kind; `_POLICIES` gives every kind its proxy
policy (retry, rotate key), the `error.code` Codex receives in `response.failed` and the
HTTP shape for non-streaming clients.  Codex shows the message of an `invalid_prompt`
verbatim, so fatal kinds use it to tell the user the real cause and the fix.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from typing import NamedTuple

AUTH = "auth"
ACCOUNT = "account"
PLAN = "plan"
QUOTA = "quota"
RATE_LIMIT = "rate_limit"
OVERLOADED = "overloaded"
CONTEXT = "context"
CONTENT_FILTER = "content_filter"
UNKNOWN_MODEL = "unknown_model"
BAD_REQUEST = "bad_request"
NOT_FOUND = "not_found"
TRANSPORT = "transport"

# Z.ai sends no Retry-After; a concurrency limit usually clears within seconds.
RATE_LIMIT_RETRY_SECONDS = 5.0
# Quota reset times in GLM messages are Beijing time.
_BEIJING = timezone(timedelta(hours=8))
_MAX_DETAIL = 300


class _Policy(NamedTuple):
    retryable: bool
    rotate_key: bool  # another key in the pool may succeed
    codex_code: str
    http_status: int
    openai_type: str
    body_code: str | None
    cause: str
    fix: str


_POLICIES: dict[str, _Policy] = {
    AUTH: _Policy(
        False, True, "invalid_prompt", 401, "authentication_error", "invalid_api_key",
        "Z.ai rejected the API key",
        "Check ZAI_API_KEY or run `codexglm config set api_key <key>`.",
    ),
    ACCOUNT: _Policy(
        False, True, "invalid_prompt", 403, "permission_error", "account_deactivated",
        "Z.ai refused this account",
        "Check the account's status in the Z.ai console, or use another key.",
    ),
    PLAN: _Policy(
        False, False, "invalid_prompt", 429, "insufficient_quota", "insufficient_quota",
        "Your Z.ai plan or balance does not cover this request",
        "Check the subscription and balance in the Z.ai console.",
    ),
    QUOTA: _Policy(
        False, True, "invalid_prompt", 429, "insufficient_quota", "insufficient_quota",
        "The Z.ai usage limit is used up",
        "Wait for the reset or use a key with quota left.",
    ),
    RATE_LIMIT: _Policy(
        True, True, "rate_limit_exceeded", 429, "rate_limit_exceeded", "rate_limit_exceeded",
        "Z.ai is rate-limiting this key",
        "",  # "Please try again in N s", which Codex parses to wait and retry
    ),
    OVERLOADED: _Policy(
        True, False, "server_error", 503, "server_error", "server_error",
        "GLM is overloaded or failed temporarily",
        "Codex retries automatically; if it keeps failing, try later or another model (`-m`).",
    ),
    CONTEXT: _Policy(
        False, False, "context_length_exceeded", 400, "invalid_request_error", "context_length_exceeded",
        "The prompt is too long for the model's context window",
        "Start a new thread or run /compact.",
    ),
    CONTENT_FILTER: _Policy(
        False, False, "invalid_prompt", 400, "invalid_request_error", "content_policy_violation",
        "Z.ai's content filter blocked the request",
        "Rephrase the request or remove the flagged content.",
    ),
    UNKNOWN_MODEL: _Policy(
        False, False, "invalid_prompt", 404, "invalid_request_error", "model_not_found",
        "Z.ai does not know this model",
        "Set the model with `-m <model>` or GLM_DEFAULT_MODEL.",
    ),
    BAD_REQUEST: _Policy(
        False, False, "invalid_prompt", 400, "invalid_request_error", None,
        "Z.ai rejected the request as invalid",
        "This is probably a codexglm translation problem; please report it with the request log.",
    ),
    NOT_FOUND: _Policy(
        False, False, "invalid_prompt", 404, "invalid_request_error", "not_found",
        "The GLM endpoint was not found",
        "Check the base URL (`codexglm config set base_url <url>`).",
    ),
    TRANSPORT: _Policy(
        True, False, "server_error", 502, "server_error", "server_error", "cannot reach GLM", "",
    ),
}


class _Code(NamedTuple):
    kind: str
    cause: str | None = None  # overrides the kind's cause / fix where the code says more
    fix: str | None = None


def _codes(kind: str, *codes: int | range) -> dict[str, _Code]:
    flat = [c for item in codes for c in (item if isinstance(item, range) else (item,))]
    return {str(code): _Code(kind) for code in flat}


# GLM business codes (docs.z.ai api-code page plus codes seen from Z.ai's own clients).
_CODES: dict[str, _Code] = {
    **_codes(AUTH, range(1000, 1005)),
    **_codes(ACCOUNT, 1100, 1110, 1111, 1112, 1121),
    **_codes(PLAN, 1314),
    **_codes(QUOTA, 1304, 1308, 1310, range(1316, 1322)),
    **_codes(RATE_LIMIT, 1302, 1303),
    **_codes(OVERLOADED, 500, 1120, 1230, 1305, 1312, 2007, 3002),
    **_codes(CONTEXT, 1261),
    **_codes(CONTENT_FILTER, 1300, 1301),
    **_codes(UNKNOWN_MODEL, 1211),
    **_codes(BAD_REQUEST, 1200, 1210, 1212, 1213, 1214, 1215, 1220, 1221, 1222, 1231),
    "1113": _Code(
        PLAN,
        "Z.ai reports no balance, or a key whose plan does not match this endpoint",
        "A Coding Plan key only works on /api/coding/paas/v4 and a pay-as-you-go key on "
        "/api/paas/v4: set the endpoint mode to auto or base-only "
        "(`codexglm config set endpoint_mode auto`), or recharge the account.",
    ),
    "1309": _Code(
        PLAN,
        "Your GLM Coding Plan has expired",
        "Renew it on z.ai, or use a pay-as-you-go key with endpoint mode base-only.",
    ),
    "1311": _Code(
        PLAN,
        "Your Z.ai plan does not include this model",
        "Choose another model with `-m <model>` or GLM_DEFAULT_MODEL.",
    ),
    "1313": _Code(
        QUOTA,
        "Z.ai restricted this account under its fair-use policy",
        "Wait for the restriction to lift or contact Z.ai support.",
    ),
    "1234": _Code(
        OVERLOADED,
        fix="Codex retries automatically; if it keeps failing, a tool's JSON schema may be too "
        "complex for GLM.",
    ),
}

_FLAGGED = {"user": "your input", "assistant": "the model's reply", "history": "earlier messages"}

_BRACKETED = re.compile(r"\[(\d{3,5})\]\[([^\]]*)\]")
_TIMESTAMP = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_HTML_TAG = re.compile(r"<[^>]*>")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+")


def error_body(
    message: str, type: str = "invalid_request_error", code: str | None = None, param: str | None = None
) -> dict:
    """An OpenAI-shaped error body."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


class RequestError(ValueError):
    """The client's request body cannot be translated (answered with HTTP 400)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True)
class UpstreamError:
    """A classified GLM or transport failure."""

    glm_code: str | None
    status: int | None
    kind: str
    message: str
    retryable: bool
    rotate_key: bool
    switch_endpoint: bool
    codex_code: str
    http_status: int
    openai_type: str
    retry_after: float | None = None
    reset_at: datetime | None = None

    def to_error_body(self) -> dict:
        policy = _POLICIES.get(self.kind)
        return error_body(self.message, self.openai_type, policy.body_code if policy else None)


def is_error_document(document: object) -> bool:
    """A GLM answer that is an error, not a completion: `{"error": {...}}` without choices
    (an HTTP error body, or an error frame inside a 200 stream)."""
    return (
        isinstance(document, dict)
        and isinstance(document.get("error"), (dict, str))
        and bool(document["error"])
        and not document.get("choices")
    )


def classify_error(
    status: int | None,
    body: bytes | str | dict | None,
    *,
    now: datetime | None = None,
    retry_after: float | None = None,
) -> UpstreamError:
    """Classify an HTTP error response or an in-stream error frame from GLM.

    `status` is None (or 200) for an error frame inside a stream.  `now` lets quota errors
    say how long until the reset and fill `retry_after`; `retry_after` is a server hint
    (a Retry-After header), which the message then quotes.
    """
    code, text, flagged = _parse_body(body)
    entry = _CODES.get(code or "") or _Code(_kind_for_status(status, text))
    policy = _POLICIES[entry.kind]
    notes: list[str] = []
    hint, retry_after = retry_after, None
    reset_at: datetime | None = None
    if entry.kind == QUOTA:
        reset_at = _reset_time(text)
        if reset_at is not None:
            retry_after = _seconds_until(reset_at, now)
            notes.append(_reset_note(reset_at, retry_after))
    elif entry.kind == RATE_LIMIT:
        retry_after = hint if hint is not None else RATE_LIMIT_RETRY_SECONDS
        notes.append(f"Please try again in {retry_after:g} s.")
    else:
        retry_after = hint
        if entry.kind == CONTENT_FILTER and flagged:
            notes.append(f"It flagged {' and '.join(flagged)}.")
    fix = entry.fix or policy.fix
    message = " ".join(
        [f"{entry.cause or policy.cause} ({_detail(code, status, text)})."] + notes + ([fix] if fix else [])
    )
    return UpstreamError(
        glm_code=code,
        status=status,
        kind=entry.kind,
        message=message,
        retryable=policy.retryable,
        rotate_key=policy.rotate_key,
        switch_endpoint=code == "1113",
        codex_code=policy.codex_code,
        http_status=policy.http_status,
        openai_type=policy.openai_type,
        retry_after=retry_after,
        reset_at=reset_at,
    )


def transport_error(description: str) -> UpstreamError:
    """A failure to reach GLM at all (DNS, connect, read timeout, reset)."""
    policy = _POLICIES[TRANSPORT]
    return UpstreamError(
        glm_code=None,
        status=None,
        kind=TRANSPORT,
        message=f"{policy.cause}: {_clean(description)}",
        retryable=policy.retryable,
        rotate_key=policy.rotate_key,
        switch_endpoint=False,
        codex_code=policy.codex_code,
        http_status=policy.http_status,
        openai_type=policy.openai_type,
    )


def _parse_body(body: bytes | str | dict | None) -> tuple[str | None, str, list[str]]:
    """(GLM code, GLM's message, what the content filter flagged) from any error shape."""
    if isinstance(body, (bytes, bytearray)):
        body = bytes(body).decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            return _split_bracketed(None, _clean(body)) + ([],)
        body = parsed
    if not isinstance(body, dict):
        return None, "", []
    error = body.get("error")
    # {"error": {...}} (OpenAI and Anthropic envelopes), {"error": "text"}, or a bare {"code", "message"}.
    holder = error if isinstance(error, dict) else body
    message = holder.get("message", error if isinstance(error, str) else None)
    if message is None and holder.get("code") is None:
        message = body
    if not isinstance(message, str):
        message = "" if message is None else json.dumps(message, ensure_ascii=False)
    return _split_bracketed(_code_str(holder.get("code")), _clean(message)) + (_flagged(body),)


def _split_bracketed(code: str | None, text: str) -> tuple[str | None, str]:
    """`[1308][Usage limit reached ...][request id]` -> ("1308", "Usage limit reached ...")."""
    match = _BRACKETED.search(text)
    if match is None:
        return code, text
    return code or match[1], match[2].strip()


def _code_str(code: object) -> str | None:
    if isinstance(code, bool) or not isinstance(code, (int, str)):
        return None
    return str(code).strip() or None


def _flagged(body: dict) -> list[str]:
    entries = body.get("contentFilter")
    if not isinstance(entries, list):
        return []
    roles = [entry.get("role") for entry in entries if isinstance(entry, dict)]
    return list(dict.fromkeys(_FLAGGED[role] for role in roles if role in _FLAGGED))


def _kind_for_status(status: int | None, text: str) -> str:
    """Kind of an error whose code we do not know, from its HTTP status."""
    if status is None or status < 400 or status >= 500 or status == 408:
        return OVERLOADED
    if status == 429:
        # New quota codes keep appearing; their messages carry a reset time.
        return QUOTA if _TIMESTAMP.search(text) else RATE_LIMIT
    return {401: AUTH, 403: ACCOUNT, 404: NOT_FOUND, 413: CONTEXT, 434: PLAN}.get(status, BAD_REQUEST)


def _clean(text: str) -> str:
    """GLM's text made fit for one line of a message: no HTML, no credentials, bounded."""
    if "<" in text and _HTML_TAG.search(text):
        title = _HTML_TITLE.search(text)
        text = _HTML_TAG.sub(" ", title[1] if title else text)
    text = _BEARER.sub(r"\1****", " ".join(text.split()))
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def _detail(code: str | None, status: int | None, text: str) -> str:
    text = text.rstrip(".。 ")  # the detail sits inside parentheses that end a sentence
    if code is not None:
        return f"GLM {code}: {text}" if text else f"GLM {code}"
    if status is not None:
        if text:
            return f"HTTP {status}: {text}"
        try:
            return f"HTTP {status} {HTTPStatus(status).phrase}"
        except ValueError:
            return f"HTTP {status}"
    return text or "no details given"


def _reset_time(text: str) -> datetime | None:
    match = _TIMESTAMP.search(text)
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        local = datetime(year, month, day, hour, minute, second, tzinfo=_BEIJING)
    except ValueError:
        return None
    return local.astimezone(timezone.utc)


def _seconds_until(moment: datetime, now: datetime | None) -> float | None:
    if now is None:
        return None
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return max(0.0, (moment - now).total_seconds())


def _reset_note(reset_at: datetime, seconds: float | None) -> str:
    # GLM's own text gives the time in Beijing time without saying so.
    when = f"It resets at {reset_at:%Y-%m-%d %H:%M:%S} UTC (GLM states Beijing time, UTC+8)"
    if seconds is None:
        return f"{when}."
    if seconds <= 0:
        return f"{when}, which has passed: try again now."
    return f"{when}, in {_duration(seconds)}."


def _duration(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes}m" if hours else f"{minutes}m"
