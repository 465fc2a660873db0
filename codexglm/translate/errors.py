"""Upstream failures, classified once: what the proxy does about them and what Codex shows.

The provider's table maps each of its error codes to a kind; `_POLICIES` gives every kind
its proxy policy (retry, rotate key), the `error.code` Codex receives in `response.failed`
and the HTTP shape for non-streaming clients.  Codex shows the message of an
`invalid_prompt` verbatim, so fatal kinds use it to tell the user the real cause and the
fix, in the provider's own words ("Z.ai rejected the API key").
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from typing import Any, NamedTuple

from ..providers.base import (
    ACCOUNT,
    AUTH,
    BAD_REQUEST,
    CONTENT_FILTER,
    CONTEXT,
    NOT_FOUND,
    OVERLOADED,
    PLAN,
    QUOTA,
    RATE_LIMIT,
    TRANSPORT,
    UNKNOWN_MODEL,
    ErrorCode,
    Provider,
)

# Longest detail quoted from an upstream message.
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
        "{vendor} rejected the API key",
        "{key_fix}",
    ),
    ACCOUNT: _Policy(
        False, True, "invalid_prompt", 403, "permission_error", "account_deactivated",
        "{vendor} refused this account",
        "Check the account's status in the {vendor} console, or use another key.",
    ),
    PLAN: _Policy(
        False, False, "invalid_prompt", 429, "insufficient_quota", "insufficient_quota",
        "Your {vendor} plan or balance does not cover this request",
        "Check the subscription and balance in the {vendor} console.",
    ),
    QUOTA: _Policy(
        False, True, "invalid_prompt", 429, "insufficient_quota", "insufficient_quota",
        "The {vendor} usage limit is used up",
        "Wait for the reset or use a key with quota left.",
    ),
    RATE_LIMIT: _Policy(
        True, True, "rate_limit_exceeded", 429, "rate_limit_exceeded", "rate_limit_exceeded",
        "{vendor} is rate-limiting this key",
        "",  # "Please try again in N s", which Codex parses to wait and retry
    ),
    OVERLOADED: _Policy(
        True, False, "server_error", 503, "server_error", "server_error",
        "{family} is overloaded or failed temporarily",
        "Codex retries automatically; if it keeps failing, try later or another model (`-m`).",
    ),
    CONTEXT: _Policy(
        False, False, "context_length_exceeded", 400, "invalid_request_error", "context_length_exceeded",
        "The prompt is too long for the model's context window",
        "Start a new thread or run /compact.",
    ),
    CONTENT_FILTER: _Policy(
        False, False, "invalid_prompt", 400, "invalid_request_error", "content_policy_violation",
        "{vendor}'s content filter blocked the request",
        "Rephrase the request or remove the flagged content.",
    ),
    UNKNOWN_MODEL: _Policy(
        False, False, "invalid_prompt", 404, "invalid_request_error", "model_not_found",
        "{vendor} does not know this model",
        "{model_fix}",
    ),
    BAD_REQUEST: _Policy(
        False, False, "invalid_prompt", 400, "invalid_request_error", None,
        "{vendor} rejected the request as invalid",
        "This is probably a codexglm translation problem; please report it with the request log.",
    ),
    NOT_FOUND: _Policy(
        False, False, "invalid_prompt", 404, "invalid_request_error", "not_found",
        "The {family} endpoint was not found",
        "{base_url_fix}",
    ),
    TRANSPORT: _Policy(
        True, False, "server_error", 502, "server_error", "server_error", "cannot reach {family}", "",
    ),
}


_FLAGGED = {"user": "your input", "assistant": "the model's reply", "history": "earlier messages"}

_BRACKETED = re.compile(r"\[(\d{3,5})\]\[([^\]]*)\]")
_TIMESTAMP = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_HTML_TAG = re.compile(r"<[^>]*>")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+")


def mask_bearer(text: str) -> str:
    """TEXT with every `Bearer <token>` credential masked."""
    return _BEARER.sub(r"\1****", text)


def error_body(
    message: str, type: str = "invalid_request_error", code: str | None = None, param: str | None = None
) -> dict[str, Any]:
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
    """A classified upstream or transport failure."""

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
    # What failed below HTTP, named by whoever saw the exception (server/upstream.py), so
    # the proxy can tell which setting a transport failure points to; "" when not known.
    cause: str = ""

    def to_error_body(self) -> dict[str, Any]:
        policy = _POLICIES.get(self.kind)
        return error_body(self.message, self.openai_type, policy.body_code if policy else None)


def _failed_status(document: dict[str, Any]) -> bool:
    """MiniMax's `base_resp` reports a failure with a non-zero status code (0 is success)."""
    base = document.get("base_resp")
    return isinstance(base, dict) and base.get("status_code") not in (None, 0, "0")


def is_error_document(document: object) -> bool:
    """An upstream answer that is an error, not a completion: `{"error": {...}}` (or a failed
    `base_resp`) without choices (an HTTP error body, or an error frame inside a 200 stream)."""
    return (
        isinstance(document, dict)
        and ((isinstance(document.get("error"), (dict, str)) and bool(document["error"])) or _failed_status(document))
        and not document.get("choices")
    )


def classify_error(
    provider: Provider,
    status: int | None,
    body: bytes | str | dict[str, Any] | None,
    *,
    now: datetime | None = None,
    retry_after: float | None = None,
) -> UpstreamError:
    """Classify an HTTP error response or an in-stream error frame from PROVIDER.

    `status` is None (or 200) for an error frame inside a stream.  `now` lets quota errors
    say how long until the reset and fill `retry_after`; `retry_after` is a server hint
    (a Retry-After header), which the message then quotes.
    """
    code, text, flagged = _parse_body(body)
    entry = (
        next((known for phrase, known in provider.message_codes if phrase.lower() in text.lower()), None)
        or provider.error_codes.get(code or "")
        or provider.status_codes.get(status or 0)
        or ErrorCode(_kind_for_status(status, text))
    )
    policy = _POLICIES[entry.kind]
    notes: list[str] = []
    hint, retry_after = retry_after, None
    reset_at: datetime | None = None
    if entry.kind == QUOTA:
        reset_at = _reset_time(text, provider.message_utc_offset)
        if reset_at is not None:
            retry_after = _seconds_until(reset_at, now)
            notes.append(_reset_note(reset_at, retry_after, provider))
    elif entry.kind == RATE_LIMIT:
        retry_after = hint if hint is not None else provider.rate_limit_retry_seconds
        notes.append(f"Please try again in {retry_after:g} s.")
    else:
        retry_after = hint
        if entry.kind == CONTENT_FILTER and flagged:
            notes.append(f"It flagged {' and '.join(flagged)}.")
    fix = entry.fix or _words(policy.fix, provider)
    cause = entry.cause or _words(policy.cause, provider)
    message = " ".join([f"{cause} ({_detail(provider, code, status, text)})."] + notes + ([fix] if fix else []))
    return UpstreamError(
        glm_code=code,
        status=status,
        kind=entry.kind,
        message=message,
        retryable=policy.retryable,
        rotate_key=policy.rotate_key,
        switch_endpoint=code in provider.endpoint_switch_codes,
        codex_code=policy.codex_code,
        http_status=policy.http_status,
        openai_type=policy.openai_type,
        retry_after=retry_after,
        reset_at=reset_at,
    )


def transport_error(provider: Provider, description: str, cause: str = "") -> UpstreamError:
    """A failure to reach PROVIDER at all (DNS, connect, read timeout, reset); CAUSE names it."""
    policy = _POLICIES[TRANSPORT]
    return UpstreamError(
        glm_code=None,
        status=None,
        kind=TRANSPORT,
        message=f"{_words(policy.cause, provider)}: {_clean(description)}",
        retryable=policy.retryable,
        rotate_key=policy.rotate_key,
        switch_endpoint=False,
        codex_code=policy.codex_code,
        http_status=policy.http_status,
        openai_type=policy.openai_type,
        cause=cause,
    )


def _parse_body(body: bytes | str | dict[str, Any] | None) -> tuple[str | None, str, list[str]]:
    """(code, the upstream's message, what the content filter flagged) from any error shape."""
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
    if error is None and _failed_status(body):
        # MiniMax: {"base_resp": {"status_code": 1008, "status_msg": "insufficient balance"}}.
        error = {"code": body["base_resp"]["status_code"], "message": body["base_resp"].get("status_msg")}
    # {"error": {...}} (OpenAI and Anthropic envelopes), {"error": "text"}, or a bare {"code", "message"}.
    holder = error if isinstance(error, dict) else body
    message = holder.get("message", error if isinstance(error, str) else None)
    if message is None and holder.get("code") is None:
        message = body
    if not isinstance(message, str):
        message = "" if message is None else json.dumps(message, ensure_ascii=False)
    message += _relayed(holder.get("metadata"))
    # Some upstreams (Moonshot) name the error only by its `type`.
    code = _code_str(holder.get("code")) or (_code_str(holder.get("type")) if isinstance(error, dict) else None)
    return _split_bracketed(code, _clean(message)) + (_flagged(body),)


def _relayed(metadata: object) -> str:
    """What a router's `metadata` says about the upstream behind it (OpenRouter: the
    provider's name and its raw error), as text to append to the router's message."""
    if not isinstance(metadata, dict):
        return ""
    raw = metadata.get("raw")
    raw_text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False) if raw is not None else ""
    name = metadata.get("provider_name")
    if isinstance(name, str) and name:
        raw_text = f"{name}: {raw_text}" if raw_text else name
    return f" ({raw_text})" if raw_text else ""


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


def _flagged(body: dict[str, Any]) -> list[str]:
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
    """Upstream text made fit for one line of a message: no HTML, no credentials, bounded."""
    if "<" in text and _HTML_TAG.search(text):
        title = _HTML_TITLE.search(text)
        text = _HTML_TAG.sub(" ", title[1] if title else text)
    text = mask_bearer(" ".join(text.split()))
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def _words(template: str, provider: Provider) -> str:
    """A policy's wording in the provider's names."""
    return template.format(
        vendor=provider.vendor,
        family=provider.model_family,
        key_fix=provider.key_fix,
        model_fix=provider.model_fix,
        base_url_fix=provider.base_url_fix,
    )


def _detail(provider: Provider, code: str | None, status: int | None, text: str) -> str:
    text = text.rstrip(".。 ")  # the detail sits inside parentheses that end a sentence
    if code is not None:
        return f"{provider.model_family} {code}: {text}" if text else f"{provider.model_family} {code}"
    if status is not None:
        if text:
            return f"HTTP {status}: {text}"
        try:
            return f"HTTP {status} {HTTPStatus(status).phrase}"
        except ValueError:
            return f"HTTP {status}"
    return text or "no details given"


def _reset_time(text: str, utc_offset: float) -> datetime | None:
    match = _TIMESTAMP.search(text)
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        local = datetime(year, month, day, hour, minute, second, tzinfo=timezone(timedelta(hours=utc_offset)))
    except ValueError:
        return None
    return local.astimezone(timezone.utc)


def _seconds_until(moment: datetime, now: datetime | None) -> float | None:
    if now is None:
        return None
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return max(0.0, (moment - now).total_seconds())


def _reset_note(reset_at: datetime, seconds: float | None, provider: Provider) -> str:
    when = f"It resets at {reset_at:%Y-%m-%d %H:%M:%S} UTC"
    if provider.message_utc_offset:
        # The provider's own text gives its local time without saying so.
        when += f" ({provider.model_family} states {provider.message_time_name}, UTC{provider.message_utc_offset:+g})"
    if seconds is None:
        return f"{when}."
    if seconds <= 0:
        return f"{when}, which has passed: try again now."
    return f"{when}, in {format_duration(seconds)}."


def format_duration(seconds: float) -> str:
    """A wait as people say it: "45m", "2h 5m", "3d 4h" (rounded up to the minute)."""
    minutes = max(1, math.ceil(seconds / 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes}m" if hours else f"{minutes}m"
