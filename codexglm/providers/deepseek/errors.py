"""DeepSeek's errors: OpenAI-shaped bodies whose `code` says little, so the HTTP status
decides (api-docs.deepseek.com error codes: 402 balance, 422 parameters, 503 overload)."""

from __future__ import annotations

from ..base import AUTH, BAD_REQUEST, CONTEXT, OVERLOADED, PLAN, RATE_LIMIT, ErrorCode

_BALANCE = ErrorCode(PLAN, "Your DeepSeek balance is used up",
                     "Top up at platform.deepseek.com/top_up, then retry.")

STATUS_CODES: dict[int, ErrorCode] = {
    400: ErrorCode(BAD_REQUEST),
    401: ErrorCode(AUTH),
    402: _BALANCE,
    422: ErrorCode(BAD_REQUEST),
    429: ErrorCode(RATE_LIMIT),
    500: ErrorCode(OVERLOADED),
    503: ErrorCode(OVERLOADED),
}

MESSAGE_CODES: tuple[tuple[str, ErrorCode], ...] = (
    ("insufficient balance", _BALANCE),
    ("maximum context length", ErrorCode(CONTEXT)),
    ("must be passed back", ErrorCode(
        BAD_REQUEST,
        "DeepSeek's thinking mode needs the reasoning of earlier tool calls, and this request lacked it",
        "Please report this codexglm replay problem with the request log; meanwhile start a new thread "
        "or turn thinking off (`-c model_reasoning_effort=\"none\"`).",
    )),
)
