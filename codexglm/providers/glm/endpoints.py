"""Z.ai's hosts and paths, and which of them a request tries in each endpoint mode.

Keys are plan-bound: a Coding Plan key answers 1113 on the general path and a
pay-as-you-go key on the Coding Plan path, so `auto` tries the Coding Plan path first.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ..base import EndpointSettings

REGIONS: dict[str, str] = {
    "international": "https://api.z.ai",
    "china": "https://open.bigmodel.cn",
}
CODING_PATH = "/api/coding/paas/v4"
GENERAL_PATH = "/api/paas/v4"
# Z.ai's (undocumented) monitor API for the Coding Plan's usage windows, on the host root.
QUOTA_PATH = "/api/monitor/usage/quota/limit"
ENDPOINT_MODES = ("coding-only", "base-only", "auto")
# The Coding Plan path's label: what it serves is plan quota, not cash (key types aside).
CODING_LABEL = "coding"
KEY_ENV = "ZAI_API_KEY"
ENV_SETTINGS: dict[str, str] = {
    "ZAI_BASE_URL": "base_url",
    "ZAI_CODING_BASE_URL": "coding_base_url",
    "GLM_ZAI_ENDPOINT_MODE": "endpoint_mode",
    "GLM_DEFAULT_MODEL": "default_model",
    "GLM_MODEL_MAP_JSON": "model_map",
    "GLM_ZAI_KEY_TYPE": "key_type",
    "GLM_PAID_FALLBACK": "paid_fallback",
}


def host_url(settings: EndpointSettings) -> str:
    return REGIONS.get(settings.region, REGIONS["international"])


def coding_url(settings: EndpointSettings) -> str:
    return (settings.coding_base_url or host_url(settings) + CODING_PATH).rstrip("/")


def general_url(settings: EndpointSettings) -> str:
    return (settings.base_url or host_url(settings) + GENERAL_PATH).rstrip("/")


def quota_url(settings: EndpointSettings) -> str:
    """The monitor API on the region's host, or on the host of an overridden base URL."""
    override = settings.coding_base_url or settings.base_url
    if override:
        parts = urlsplit(override)
        return f"{parts.scheme}://{parts.netloc}{QUOTA_PATH}"
    return host_url(settings) + QUOTA_PATH


def endpoints(settings: EndpointSettings) -> list[tuple[str, str]]:
    """Upstream base URLs in the order they are tried: (label, url)."""
    coding = (CODING_LABEL, coding_url(settings))
    general = ("general", general_url(settings))
    if settings.endpoint_mode == "base-only":
        return [general]
    if settings.endpoint_mode == "auto":
        return [coding, general]
    return [coding]
