"""Moonshot's errors: OpenAI-shaped bodies named by `type` (platform.moonshot.ai error docs);
the Kimi Code plan answers 403 `permission_error` "5-hour usage limit" (api.md §7)."""

from __future__ import annotations

from ..base import (
    ACCOUNT,
    AUTH,
    BAD_REQUEST,
    CONTENT_FILTER,
    CONTEXT,
    OVERLOADED,
    PLAN,
    QUOTA,
    RATE_LIMIT,
    UNKNOWN_MODEL,
    ErrorCode,
)

ERROR_CODES: dict[str, ErrorCode] = {
    "invalid_authentication_error": ErrorCode(AUTH),
    "permission_denied_error": ErrorCode(ACCOUNT),
    "exceeded_current_quota_error": ErrorCode(
        PLAN, "Your Moonshot balance is used up", "Recharge at platform.moonshot.ai (Billing), then retry."
    ),
    "rate_limit_reached_error": ErrorCode(RATE_LIMIT),
    "engine_overloaded_error": ErrorCode(OVERLOADED),
    "server_error": ErrorCode(OVERLOADED),
    "content_filter": ErrorCode(CONTENT_FILTER),
    "resource_not_found_error": ErrorCode(UNKNOWN_MODEL),
    "invalid_request_error": ErrorCode(BAD_REQUEST),
}

MESSAGE_CODES: tuple[tuple[str, ErrorCode], ...] = (
    ("usage limit", ErrorCode(
        QUOTA, "The Kimi Code plan's 5-hour usage limit is used up",
        "Wait for the window to reset, or use a pay-as-you-go Moonshot key.",
    )),
    ("exceeded model token limit", ErrorCode(CONTEXT)),
)
