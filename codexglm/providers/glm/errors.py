"""GLM business codes (docs.z.ai api-code page plus codes seen from Z.ai's own clients)."""

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
    error_codes,
)

# The code Z.ai answers when a key's plan does not match the endpoint (or there is no balance).
PLAN_MISMATCH = "1113"
# The code of a model the key's plan does not include.
PLAN_LACKS_MODEL = "1311"

ERROR_CODES: dict[str, ErrorCode] = {
    **error_codes(AUTH, range(1000, 1005)),
    **error_codes(ACCOUNT, 1100, 1110, 1111, 1112, 1121),
    **error_codes(PLAN, 1314),
    **error_codes(QUOTA, 1304, 1308, 1310, range(1316, 1322)),
    **error_codes(RATE_LIMIT, 1302, 1303),
    **error_codes(OVERLOADED, 500, 1120, 1230, 1305, 1312, 2007, 3002),
    **error_codes(CONTEXT, 1261),
    **error_codes(CONTENT_FILTER, 1300, 1301),
    **error_codes(UNKNOWN_MODEL, 1211),
    **error_codes(BAD_REQUEST, 1200, 1210, 1212, 1213, 1214, 1215, 1220, 1221, 1222, 1231),
    PLAN_MISMATCH: ErrorCode(
        PLAN,
        "Z.ai reports no balance, or a key whose plan does not match this endpoint",
        "A Coding Plan key only works on /api/coding/paas/v4 and a pay-as-you-go key on "
        "/api/paas/v4: set the endpoint mode to auto or base-only "
        "(`codexglm config set endpoint_mode auto`), or recharge the account.",
    ),
    "1309": ErrorCode(
        PLAN,
        "Your GLM Coding Plan has expired",
        "Renew it on z.ai, or use a pay-as-you-go key with endpoint mode base-only.",
    ),
    PLAN_LACKS_MODEL: ErrorCode(
        PLAN,
        "Your Z.ai plan does not include this model",
        "Choose another model with `-m <model>` or GLM_DEFAULT_MODEL.",
    ),
    "1313": ErrorCode(
        QUOTA,
        "Z.ai restricted this account under its fair-use policy",
        "Wait for the restriction to lift or contact Z.ai support.",
    ),
    "1234": ErrorCode(
        OVERLOADED,
        fix="Codex retries automatically; if it keeps failing, a tool's JSON schema may be too "
        "complex for GLM.",
    ),
}

# finish_reason values of an answer GLM did not finish properly.
FAILED_FINISH_REASONS: dict[str, str] = {
    "sensitive": CONTENT_FILTER,
    "content_filter": CONTENT_FILTER,
    "network_error": OVERLOADED,
    "model_context_window_exceeded": CONTEXT,
}
