"""Z.ai GLM: the default provider and the deepest integration."""

from __future__ import annotations

from ..base import Provider
from . import endpoints
from .errors import ERROR_CODES, FAILED_FINISH_REASONS, PLAN_LACKS_MODEL, PLAN_MISMATCH
from .keytypes import KEY_TYPES
from .models import DEFAULT_MODEL, MODELS, PLAN_ROUTED
from .quota import parse_quota
from .search import WEB_SEARCH
from .thinking import glm_chat_extras, glm_thinking

GLM = Provider(
    name="glm",
    vendor="Z.ai",
    model_family="GLM",
    model_owner="z-ai",
    models=MODELS,
    default_model=DEFAULT_MODEL,
    key_env=endpoints.KEY_ENV,
    env_settings=endpoints.ENV_SETTINGS,
    endpoints=endpoints.endpoints,
    regions=endpoints.REGIONS,
    endpoint_modes=endpoints.ENDPOINT_MODES,
    plan_routed=PLAN_ROUTED,
    passthrough_prefixes=("glm-",),
    thinking=glm_thinking,
    chat_extras=glm_chat_extras,
    temperature_range=(0.0, 1.0),
    top_p_range=(0.01, 1.0),
    # GLM 500s or stalls on $ref/anyOf/oneOf in tool schemas.
    simplify_schemas=True,
    web_search_tool={"type": "web_search", "web_search": {"enable": True, "search_engine": "search_pro_jina", "search_result": True}},
    search=WEB_SEARCH,
    # On the Coding Plan and pay-as-you-go alike, with the same key as the text models.
    vision_model="glm-4.6v",
    error_codes=ERROR_CODES,
    endpoint_switch_codes=frozenset({PLAN_MISMATCH}),
    plan_model_codes=frozenset({PLAN_LACKS_MODEL}),
    key_types=KEY_TYPES,
    failed_finish_reasons=FAILED_FINISH_REASONS,
    # Z.ai sends no Retry-After; a concurrency limit usually clears within seconds.
    rate_limit_retry_seconds=5.0,
    # Quota reset times in GLM messages are Beijing time.
    message_utc_offset=8.0,
    message_time_name="Beijing time",
    quota_url=endpoints.quota_url,
    parse_quota=parse_quota,
    plan_endpoints=frozenset({endpoints.CODING_LABEL}),
    key_fix="Check ZAI_API_KEY or run `codexglm login`.",
    model_fix="Set the model with `-m <model>` or GLM_DEFAULT_MODEL.",
)
