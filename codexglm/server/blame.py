"""Which setting a failure points to, and where the user set it.

A value can pass `config set` and still fail at run time: a base URL that refuses
connections or answers 404, a key the provider rejects, a model it does not know, a wait
too short.  The translate core classifies the failure as always; at the boundary where the
proxy turns it into what the user sees, `responsible` (one rule per kind of failure) names
the settings that plausibly caused it and `clause` says where each came from
(`Settings.origins`), e.g. "(`base_url` = https://… in ~/.config/codexglm/config.toml:3;
check it with `codexglm doctor`)".  A key shows its last four characters at most.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from ..providers.base import ACCOUNT, AUTH, NOT_FOUND, PLAN, TRANSPORT, UNKNOWN_MODEL
from ..settings import API_KEYS, DEFAULT, Settings, mask_secret
from ..translate import UpstreamError
from .failures import ANSWER_TOO_LARGE
from .upstream import CONNECT_TIMEOUT, FIRST_BYTE, READ_TIMEOUT, UNREACHABLE

# Stand-ins a rule names, resolved for the failed request: the base URL of the endpoint
# that failed (which setting builds it depends on the provider), and the setting that
# chose the model (default_model or model_map.NAME).
URL = "<url>"
MODEL = "<model>"
# The proxy's own refusal of a request body over max_body_bytes (HTTP 413).
REQUEST_TOO_LARGE = "request_too_large"

_RULES: dict[str, tuple[str, ...]] = {
    AUTH: (API_KEYS,),
    ACCOUNT: (API_KEYS,),
    UNKNOWN_MODEL: (MODEL,),
    NOT_FOUND: (URL,),
    ANSWER_TOO_LARGE: ("max_answer_bytes",),
    REQUEST_TOO_LARGE: ("max_body_bytes",),
}
_TRANSPORT_RULES: dict[str, tuple[str, ...]] = {
    UNREACHABLE: (URL,),
    CONNECT_TIMEOUT: (URL, "connect_timeout"),
    FIRST_BYTE: ("first_byte_timeout",),
    READ_TIMEOUT: ("read_timeout",),
}
# Settings whose built-in default can itself be behind a failure (a limit, a wait, the
# endpoint mode); a default URL or model is the provider's own, not the user's choice.
_DEFAULT_MATTERS = frozenset(
    {"endpoint_mode", "connect_timeout", "read_timeout", "first_byte_timeout", "max_body_bytes", "max_answer_bytes"}
)
_URL_SETTINGS = ("coding_base_url", "base_url", "region")
_MAX_VALUE = 120


def responsible(
    kind: str, *, cause: str = "", wrong_endpoint: bool = False, model_refused: bool = False, endpoint_mode: str = ""
) -> tuple[str, ...]:
    """The settings (or URL, MODEL, API_KEYS) a failure of KIND plausibly comes from.

    CAUSE is a transport failure's `UpstreamError.cause`; WRONG_ENDPOINT says the provider
    answered that the key's plan does not match the endpoint, where the endpoint mode (and
    in auto mode the billing guard: key_type, paid_fallback) decided where it went;
    MODEL_REFUSED that the key's plan does not include the model."""
    if kind == TRANSPORT:
        return _TRANSPORT_RULES.get(cause, ())
    if kind == PLAN:
        if model_refused:
            return (MODEL, API_KEYS)
        if not wrong_endpoint:
            return (API_KEYS,)
        guard = ("key_type", "paid_fallback") if endpoint_mode == "auto" else ()
        return ("endpoint_mode", URL, *guard, API_KEYS)
    return _RULES.get(kind, ())


@dataclass(frozen=True)
class Attempt:
    """What the proxy knows of the request that failed: the endpoint label, the key's
    position in the pool (1-based), the model Codex asked for and the one that was sent."""

    endpoint: str = ""
    key: int | None = None
    requested: str | None = None
    sent: str | None = None


def places(settings: Settings, names: tuple[str, ...], attempt: Attempt = Attempt()) -> list[str]:
    """Each of NAMES the user set (or, for a limit or a wait, at a default worth naming) with
    its value and where it was set: "`base_url` = … in FILE:LINE"."""
    return list(dict.fromkeys(part for name in names for part in _parts(settings, name, attempt)))


def clause(settings: Settings, names: tuple[str, ...], attempt: Attempt = Attempt()) -> str:
    """The clause "(`base_url` = … in FILE:LINE; check it with `codexglm doctor`)", or ""."""
    parts = places(settings, names, attempt)
    return f"({'; '.join(parts)}; check it with `codexglm doctor`)" if parts else ""


def explain(error: UpstreamError, settings: Settings, attempt: Attempt = Attempt()) -> UpstreamError:
    """ERROR with the clause naming where its responsible settings came from, if any."""
    note = clause(settings, responsible_for(error, settings), attempt)
    return dataclasses.replace(error, message=f"{error.message.rstrip()} {note}") if note else error


def responsible_for(error: UpstreamError, settings: Settings) -> tuple[str, ...]:
    """`responsible` for a classified ERROR under SETTINGS (its provider's codes, its mode)."""
    return responsible(
        error.kind,
        cause=error.cause,
        wrong_endpoint=error.switch_endpoint,
        model_refused=error.glm_code in settings.upstream.plan_model_codes,
        endpoint_mode=settings.endpoint_mode,
    )


def _parts(settings: Settings, name: str, attempt: Attempt) -> list[str]:
    if name == API_KEYS:
        return _key_part(settings, attempt.key)
    if name == URL:
        return [_part(settings, key, _endpoint_url(settings, attempt.endpoint)) for key in _url_keys(settings, attempt.endpoint)]
    if name == MODEL:
        chosen = _model_key(settings, attempt)
        return [_part(settings, chosen, attempt.sent or "")] if chosen else []
    top, _, entry = name.partition(".")
    if settings.origin(top).kind == DEFAULT and top not in _DEFAULT_MATTERS:
        return []
    value = settings.model_map.get(entry, "") if entry else getattr(settings, top)  # only model_map is dotted
    return [_part(settings, name, _shown(value))]


def _part(settings: Settings, key: str, value: str) -> str:
    top = key.split(".", 1)[0]
    origin = settings.origin(top)
    subject = f"`{key}` = {value}" if value else f"`{key}`"
    return f"{subject}, the default" if origin.kind == DEFAULT else f"{subject} {origin.place()}"


def _key_part(settings: Settings, position: int | None) -> list[str]:
    origin = settings.origin(API_KEYS)
    if origin.kind == DEFAULT or not settings.api_keys:
        return []
    index = (position or 1) - 1
    if not 0 <= index < len(settings.api_keys):
        index = 0
    key = settings.api_keys[index]
    pool = f" (key {index + 1} of {len(settings.api_keys)})" if len(settings.api_keys) > 1 else ""
    return [f"API key {mask_secret(key)}{pool} {origin.place()}"]


def _url_keys(settings: Settings, label: str) -> list[str]:
    """The settings that built the base URL of endpoint LABEL: those whose default would
    change it, else a custom provider's table (its `base_url` origin with no value)."""
    url = _endpoint_url(settings, label)
    if not url:
        return []
    defaults = {f.name: f.default for f in dataclasses.fields(Settings) if f.name in _URL_SETTINGS}
    keys = [key for key in _URL_SETTINGS if _endpoint_url(settings.replace(**{key: defaults[key]}), label) != url]
    if not keys and settings.base_url is None and settings.origin("base_url").kind != DEFAULT:
        keys = ["base_url"]
    return [key for key in keys if settings.origin(key).kind != DEFAULT]


def _endpoint_url(settings: Settings, label: str) -> str:
    endpoints = dict(settings.endpoints())
    url = endpoints.get(label) or next(iter(endpoints.values()), "")
    return _shown(url)


def _model_key(settings: Settings, attempt: Attempt) -> str | None:
    """The setting that chose the model that was sent: a model_map entry for the requested
    name, else the catch-all entry `*` or default_model when that is what went out; None for
    Codex's own `-m` choice."""
    requested = (attempt.requested or "").strip().lower()
    for name in settings.model_map:
        if name.lower() == requested:
            return f"model_map.{name}"
    sent = (attempt.sent or "").strip().lower()
    if sent and settings.model_map.get("*", "").strip().lower() == sent:
        return "model_map.*"
    if sent and sent == settings.default_model.strip().lower() and settings.origin("default_model").kind != DEFAULT:
        return "default_model"
    return None


def _shown(value: object) -> str:
    """A value fit for an error line: a URL without credentials or query, bounded."""
    text = str(value)
    if text.startswith(("http://", "https://")):
        parts = urlsplit(text)
        text = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"

