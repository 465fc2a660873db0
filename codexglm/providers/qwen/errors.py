"""DashScope (compatible mode) error codes: `{"error": {"code": "invalid_api_key", ...}}`;
context overflow is an `invalid_parameter_error` "Range of input length should be [1, X]"."""

from __future__ import annotations

from ..base import AUTH, BAD_REQUEST, CONTENT_FILTER, CONTEXT, OVERLOADED, PLAN, QUOTA, RATE_LIMIT, UNKNOWN_MODEL, ErrorCode

ERROR_CODES: dict[str, ErrorCode] = {
    "invalid_api_key": ErrorCode(AUTH),
    "Arrearage": ErrorCode(PLAN, "Your Alibaba Cloud account has an overdue payment",
                           "Settle the balance in the Alibaba Cloud console (Expenses and Costs), then retry."),
    "insufficient_quota": ErrorCode(QUOTA, "The Model Studio free quota for this model is used up",
                                    "Enable pay-as-you-go for the model in the Model Studio console, or pick another model."),
    "data_inspection_failed": ErrorCode(CONTENT_FILTER),
    "model_not_found": ErrorCode(UNKNOWN_MODEL),
    "limit_requests": ErrorCode(RATE_LIMIT),
    "Throttling": ErrorCode(RATE_LIMIT),
    "internal_error": ErrorCode(OVERLOADED),
    "invalid_parameter_error": ErrorCode(BAD_REQUEST),
}

MESSAGE_CODES: tuple[tuple[str, ErrorCode], ...] = (("Range of input length", ErrorCode(CONTEXT)),)
