"""OpenRouter's error codes are HTTP statuses inside the body (openrouter.ai/docs errors):
402 credits, 403 moderation, 408 timeout, 429 rate limit (often an upstream's, named in
`metadata.provider_name`), 502 upstream failure, 503 no provider available."""

from __future__ import annotations

from ..base import AUTH, BAD_REQUEST, CONTENT_FILTER, OVERLOADED, PLAN, RATE_LIMIT, UNKNOWN_MODEL, ErrorCode, error_codes

ERROR_CODES: dict[str, ErrorCode] = {
    **error_codes(BAD_REQUEST, 400),
    **error_codes(AUTH, 401),
    **error_codes(UNKNOWN_MODEL, 404),
    **error_codes(RATE_LIMIT, 429),
    **error_codes(OVERLOADED, 408, 502, 503),
    "402": ErrorCode(PLAN, "Your OpenRouter credits are used up (or the key's credit limit is reached)",
                     "Add credits at openrouter.ai/settings/credits or raise the key's limit, then retry."),
    "403": ErrorCode(CONTENT_FILTER, "OpenRouter's moderation flagged the input",
                     "Rephrase the request, or pick a model without moderation."),
}
