"""MiniMax status codes (`base_resp.status_code`, platform.minimax.io error-code page):
2013 bad parameters (empty content, invalid function-arguments JSON), 1008 balance."""

from __future__ import annotations

from ..base import AUTH, BAD_REQUEST, CONTENT_FILTER, OVERLOADED, PLAN, RATE_LIMIT, ErrorCode, error_codes

ERROR_CODES: dict[str, ErrorCode] = {
    **error_codes(OVERLOADED, 1000, 1001, 1013),
    **error_codes(RATE_LIMIT, 1002, 1039),
    **error_codes(AUTH, 1004, 2049),
    **error_codes(CONTENT_FILTER, 1026, 1027),
    "1008": ErrorCode(PLAN, "Your MiniMax account balance is insufficient",
                      "Recharge at platform.minimax.io (Billing), or use a Coding Plan key."),
    "2013": ErrorCode(
        BAD_REQUEST,
        "MiniMax rejected the request's parameters (empty content or tool-call arguments that are not valid JSON)",
        "Please report this codexglm translation problem with the request log.",
    ),
}
