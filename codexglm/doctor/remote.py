"""Verdicts on what Z.ai answered: endpoints, endpoint mode, models, quota windows.

Pure functions from request outcomes (see `network`) to checks, so every failure a user
can meet is tested without a server.  GLM errors are interpreted by the translation core's
`classify_error` (via `Outcome.error`); this module only decides what they mean for the
setup: which endpoint works for this key, which mode to use, which model to pick.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..providers import GLM, route_model
from ..providers.base import (
    ACCOUNT,
    AUTH,
    CASH,
    NOT_FOUND,
    OVERLOADED,
    PLAN,
    PLAN_QUOTA,
    QUOTA,
    RATE_LIMIT,
    TOKENS_WINDOW,
    UNKNOWN_KEY_TYPE,
    UNKNOWN_MODEL,
    QuotaWindow,
)
from ..providers.glm.errors import PLAN_LACKS_MODEL, PLAN_MISMATCH
from ..providers.glm.keytypes import KEY_TYPES, detect_key_type, plan_level
from ..providers.glm.quota import parse_quota
from ..server.blame import URL, Attempt, places, responsible_for
from ..settings import Settings
from ..translate import UpstreamError
from ..translate.errors import format_duration
from .network import Outcome, host_of
from .report import Check, Status, ms

ENDPOINT_TITLES = {"coding": "Coding Plan", "general": "pay-as-you-go"}
_MODE_FOR = {"coding": "coding-only", "general": "base-only"}
_URL_SETTING = {"coding": ("coding_base_url", "ZAI_CODING_BASE_URL"), "general": ("base_url", "ZAI_BASE_URL")}
_REGION_HINT = "Keys are per region: a bigmodel.cn key needs `codexglm config set region china` (and a z.ai key, international)."
# classify_error's reset sentence (UTC); the doctor shows the reset in local time instead.
_RESET_NOTE = re.compile(r"^It resets at [^.]*\.\s*")


def split_message(error: UpstreamError) -> tuple[str, str]:
    """A classified message is "<cause> (<GLM's words>). [notes] [fix]": split off the fix."""
    text = error.message
    opening = text.find(" (")
    end = text.find(").", opening) if opening >= 0 else -1
    if end < 0:
        return text, ""
    return text[: end + 2], text[end + 2 :].strip()


def where_set(check: Check, settings: Settings, names: tuple[str, ...], label: str = "") -> Check:
    """A failing CHECK naming where the settings behind it were set (file and line, variable,
    flag, key file), as the proxy's errors do; other checks as they are."""
    parts = places(settings, names, Attempt(endpoint=label)) if check.status is Status.FAIL else []
    return dataclasses.replace(check, message=f"{check.message} ({'; '.join(parts)})") if parts else check


def outcome_settings(outcome: Outcome, settings: Settings) -> tuple[str, ...]:
    """The settings a probe's failure points to: the URL for what is not the provider at all,
    else the proxy's rule for the error (server/blame.py)."""
    if outcome.network is not None or outcome.malformed is not None:
        return (URL,)
    return responsible_for(outcome.error, settings) if outcome.error is not None else ()


def setting_hint(sources: Mapping[str, str], key: str, value: str) -> str:
    """How to set KEY (or `model_map.NAME`) where it is set now: an environment variable
    or a flag wins over config.toml, so that is where it must change."""
    top, _, entry = key.partition(".")
    source = sources.get(top, "")
    if source.startswith("env "):
        variable = source.removeprefix("env ")
        return f'map "{entry}" to "{value}" in {variable}' if entry else f"export {variable}={value}"
    if source == "flag":
        return f"pass {value} for {top} on the command line"
    return f"codexglm config set {key} {value}"


# --------------------------------------------------------------------------- endpoints


@dataclass(frozen=True)
class Endpoint:
    """One endpoint's probe, as the endpoint-mode recommendation sees it."""

    label: str  # "coding" | "general"
    outcome: Outcome
    in_use: bool

    @property
    def error(self) -> UpstreamError | None:
        return self.outcome.error

    @property
    def model_problem(self) -> bool:
        """The key works here; only the probed model was refused (reported under Models)."""
        error = self.error
        return error is not None and (error.kind == UNKNOWN_MODEL or error.glm_code == PLAN_LACKS_MODEL)

    @property
    def accepts_key(self) -> bool:
        """Reachable, and the key's plan is served here (even if its quota is used up now)."""
        if self.outcome.ok or self.model_problem:
            return True
        error = self.error
        return error is not None and error.kind not in (AUTH, ACCOUNT, NOT_FOUND, PLAN)


def _network_fix(settings: Settings, sources: Mapping[str, str], label: str) -> str:
    key, variable = _URL_SETTING[label]
    if not getattr(settings, key):
        return "Check the internet connection, DNS and firewall; behind a proxy set HTTPS_PROXY."
    if sources.get(key, "").startswith("env "):
        return f"Check the URL in {variable} (unset it to use Z.ai's)."
    return f"Check the overridden {key} (`codexglm config unset {key}` restores Z.ai's)."


def endpoint_check(
    endpoint: Endpoint, settings: Settings, sources: Mapping[str, str], others: Sequence[Endpoint], now: datetime
) -> Check:
    """An endpoint's verdict.  A failure only counts when the endpoint mode depends on this
    endpoint: one the mode does not use, or one auto mode falls back from, is informative."""
    label, outcome = endpoint.label, endpoint.outcome
    title = f"{ENDPOINT_TITLES[label]} endpoint"
    timings = {"latency_ms": ms(outcome.latency)} if outcome.latency is not None else {}
    where = outcome.url.removesuffix("/chat/completions")
    status, message, fix = _endpoint_verdict(endpoint, settings, sources, others, now)
    message = f"{where}: {message}"
    fallback = [o for o in others if o.in_use and o.accepts_key]
    if not endpoint.in_use:
        message = f"{message.rstrip('.')} (not used: endpoint_mode {settings.endpoint_mode})"
    elif status is not Status.OK and fallback:
        message = f"{message.rstrip('.')} (endpoint_mode {settings.endpoint_mode} uses {_names(fallback)} instead)"
    else:
        check = Check(f"endpoint.{label}", title, status, message, fix, timings)
        return where_set(check, settings, outcome_settings(outcome, settings), label)
    return Check(f"endpoint.{label}", title, Status.OK if status is Status.OK else Status.SKIP, message, "", timings)


def _endpoint_verdict(
    endpoint: Endpoint, settings: Settings, sources: Mapping[str, str], others: Sequence[Endpoint], now: datetime
) -> tuple[Status, str, str]:
    outcome = endpoint.outcome
    latency = f"{outcome.latency * 1000:.0f} ms" if outcome.latency is not None else ""
    if outcome.network is not None:
        return Status.FAIL, f"cannot reach {host_of(outcome.url)}: {outcome.network}", _network_fix(settings, sources, endpoint.label)
    if outcome.malformed is not None:
        return (
            Status.FAIL,
            f"got {outcome.malformed} instead of a GLM answer",
            "Something other than Z.ai answers at this URL (a captive portal, a proxy, or a wrong URL). "
            + _network_fix(settings, sources, endpoint.label),
        )
    error = outcome.error
    if error is None:
        return Status.OK, f"reachable, key accepted, {latency}", ""
    why, fix = split_message(error)
    if endpoint.model_problem:
        return Status.OK, f"reachable, key accepted, {latency} (the model was refused: see Models)", ""
    if error.kind == AUTH:
        return Status.FAIL, why, f"{fix} {_REGION_HINT}".strip()
    if error.glm_code == PLAN_MISMATCH:
        better = [o for o in others if o.accepts_key]
        if better:
            mode = _MODE_FOR[better[0].label]
            fix = f"This key belongs to the {ENDPOINT_TITLES[better[0].label]} endpoint: {setting_hint(sources, 'endpoint_mode', mode)}"
        return Status.FAIL, why, fix
    if error.kind == QUOTA and error.reset_at is not None:
        reset = reset_phrase(error.reset_at, now)
        return Status.FAIL, f"key accepted, but {_lower_first(why)} It {reset}.", _RESET_NOTE.sub("", fix)
    if error.kind in (QUOTA, PLAN):
        return Status.FAIL, f"key accepted, but {_lower_first(why)}", fix
    if error.kind == ACCOUNT:
        return Status.FAIL, f"account refused: {why}", fix
    if error.kind in (RATE_LIMIT, OVERLOADED):
        return Status.WARN, f"reachable, key accepted, but busy right now: {why}", "Nothing to change if it passes on a second run; codexglm retries these."
    if error.kind == NOT_FOUND:
        return Status.FAIL, f"nothing answers at this path: {why}", _network_fix(settings, sources, endpoint.label)
    return Status.WARN, f"key accepted, but the test request was refused: {why}", "Please report this with the doctor output (it contains no key)."


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def mode_check(endpoints: Sequence[Endpoint], settings: Settings, sources: Mapping[str, str]) -> Check:
    """Does the configured endpoint mode use an endpoint that takes this key?"""
    mode = settings.endpoint_mode
    accepting = [e for e in endpoints if e.accepts_key]
    in_use = [e for e in endpoints if e.in_use]
    title = "endpoint mode"
    if not accepting:
        return Check("endpoint.mode", title, Status.SKIP, "no endpoint accepts this key yet; fix the errors above first")
    if all(e.accepts_key for e in in_use):
        verb = "accepts" if len(in_use) == 1 else "accept"
        return Check("endpoint.mode", title, Status.OK, f"{mode} uses {_names(in_use)}, which {verb} this key")
    best = _MODE_FOR[accepting[0].label] if len(accepting) == 1 else "auto"
    if in_use[0].accepts_key:
        # auto, and the endpoint tried first works: the other one is never needed.
        return Check("endpoint.mode", title, Status.OK, f"{mode} uses {_names(in_use[:1])} first, which accepts this key")
    fallback = next((e for e in in_use if e.accepts_key), None)
    if fallback is not None and not GLM.fallback_allowed(
        settings.key_type, in_use[0].label, fallback.label, paid=settings.paid_fallback
    ):
        check = Check(
            "endpoint.mode", title, Status.FAIL,
            f"{mode} will not fall back to {_names([fallback])}: with key type {settings.key_type} it spends cash",
            f"{setting_hint(sources, 'endpoint_mode', _MODE_FOR[fallback.label])} (or run `codexglm login`)",
        )
        return where_set(check, settings, ("endpoint_mode", "key_type", "paid_fallback"))
    if fallback is not None:
        # auto: the proxy moves to the endpoint that works after the first refusal.
        return Check(
            "endpoint.mode", title, Status.OK,
            f"{mode} falls back to {_names([e for e in in_use if e.accepts_key])} "
            f"({best} would skip the refused first attempt)",
        )
    check = Check(
        "endpoint.mode", title, Status.FAIL,
        f"{mode} only uses {_names(in_use)}, which refuses this key; {_names(accepting)} accepts it",
        setting_hint(sources, "endpoint_mode", best),
    )
    return where_set(check, settings, ("endpoint_mode",))


def provider_check(vendor: str, name: str, model: str, listed: Outcome, chat: Outcome) -> Check:
    """A second provider's verdict from its model list and a one-token request."""
    check_id, title = f"providers.{name}", f"{vendor} ({name})"
    timings = {"latency_ms": ms(chat.latency)} if chat.latency is not None else {}
    host = host_of(chat.url)
    if chat.network is not None:
        return Check(check_id, title, Status.FAIL, f"cannot reach {host}: {chat.network}",
                     "Check the network, or the provider's base URL variable.", timings)
    if chat.error is not None:
        cause, fix = split_message(chat.error)
        return Check(check_id, title, Status.FAIL, f"{host}: {cause}", fix, timings)
    if chat.malformed is not None:
        return Check(check_id, title, Status.FAIL, f"{host} {chat.malformed}", "Check the provider's base URL.", timings)
    count = f"{len(listed.document)} models listed" if listed.ok else "no model list"
    return Check(check_id, title, Status.OK, f"{host}: key works, {count}, {name}/{model} answered", timings=timings)


_BILLS = {CASH: "spends cash", PLAN_QUOTA: "uses plan quota"}


def key_type_check(endpoints: Sequence[Endpoint], quota: Outcome, settings: Settings, sources: Mapping[str, str]) -> Check:
    """Which key type Z.ai's answers point to, what each endpoint bills, and whether the
    configured key type and fallback can spend cash the user does not expect."""
    served = {e.label: e.outcome.ok for e in endpoints}
    plan = plan_level(quota.document) if quota.ok else None
    detection = detect_key_type(plan, served.get("coding", False), served.get("general", False))
    configured = settings.key_type
    assumed = configured if configured != UNKNOWN_KEY_TYPE else detection.key_type
    billing = {e.label: GLM.billing(assumed, e.label) for e in endpoints}
    bills = ", ".join(f"{ENDPOINT_TITLES[label]} {_BILLS[kind]}" for label, kind in billing.items())
    label = KEY_TYPES[detection.key_type].label
    title = "key type"
    if detection.key_type == UNKNOWN_KEY_TYPE:
        return Check("endpoint.keytype", title, Status.SKIP, "cannot tell the key type: no endpoint served it")
    if configured == UNKNOWN_KEY_TYPE and settings.endpoint_mode != "auto":
        # Only auto mode's fallback depends on the key type; one endpoint bills as it bills.
        return Check("endpoint.keytype", title, Status.OK, f"looks like {label} ({bills}); not recorded")
    if configured == UNKNOWN_KEY_TYPE:
        return Check("endpoint.keytype", title, Status.WARN,
                     f"looks like {label} ({bills}); not recorded, so the fallback treats it as Compatible",
                     "Run `codexglm login` to record it (or " + setting_hint(sources, "key_type", detection.key_type) + ").")
    if configured != detection.key_type and configured not in detection.also_possible:
        return Check("endpoint.keytype", title, Status.WARN,
                     f"set to {KEY_TYPES[configured].label}, but Z.ai's answers look like {label}",
                     "Run `codexglm login` again, or " + setting_hint(sources, "key_type", detection.key_type) + ".")
    if settings.paid_fallback and settings.endpoint_mode == "auto" and set(billing.values()) == {CASH, PLAN_QUOTA}:
        return Check("endpoint.keytype", title, Status.WARN,
                     f"{KEY_TYPES[configured].label} ({bills}); paid_fallback lets auto mode spend cash",
                     "Unset it (`codexglm config unset paid_fallback`) unless you mean to.")
    return Check("endpoint.keytype", title, Status.OK, f"{KEY_TYPES[configured].label}: {bills}")


def _names(endpoints: Sequence[Endpoint]) -> str:
    return " and ".join(f"the {ENDPOINT_TITLES[e.label]} endpoint" for e in endpoints)


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class ModelUse:
    """A GLM model the settings can send upstream, and which setting sends it."""

    model: str  # GLM id
    role: str  # "default" or "for <name>"
    setting: str  # the setting to change ("default_model" or "model_map.<name>")


def models_in_use(settings: Settings) -> list[ModelUse]:
    default = settings.upstream.resolve_model(settings.default_model, settings.default_model, settings.model_map)
    uses = [ModelUse(default, "default", "default_model")]
    tables = {settings.provider: settings.upstream.models.keys()}
    for name, target in settings.model_map.items():
        if route_model(target, tables, settings.provider)[0] != settings.provider:
            continue  # another provider's model: its own check (`providers.NAME`) covers it
        role = "for other names" if name == "*" else f"for {name}"
        uses.append(ModelUse(target.strip().lower(), role, f"model_map.{name}"))
    unique: dict[str, ModelUse] = {}
    for use in uses:
        unique.setdefault(use.model, use)  # the first setting that sends a model names it
    return list(unique.values())


def model_check(
    use: ModelUse, listed: Outcome | None, probe: Outcome | None, sources: Mapping[str, str], settings: Settings
) -> Check:
    """LISTED: GET /models of a working endpoint; PROBE: a completion with this model (or None)."""
    return where_set(_model_verdict(use, listed, probe, sources, settings), settings, (use.setting,))


def _model_verdict(
    use: ModelUse, listed: Outcome | None, probe: Outcome | None, sources: Mapping[str, str], settings: Settings
) -> Check:
    check_id, title = f"model.{use.model}", f"model {use.model}"
    listing = listed if listed is not None and listed.ok else None
    offered: set[str] | None = listing.document if listing is not None else None
    provider = settings.upstream
    fix = setting_hint(sources, use.setting, _suggest(use.model, offered, list(provider.models)))
    error = probe.error if probe is not None else None
    if error is not None and error.kind == UNKNOWN_MODEL:
        return Check(check_id, title, Status.FAIL, f"{use.role}: {split_message(error)[0]}", fix)
    if error is not None and error.glm_code == PLAN_LACKS_MODEL:
        return Check(check_id, title, Status.FAIL, f"{use.role}: {split_message(error)[0]}", f"Pick a model in your plan: {fix}")
    if listing is not None and use.model not in listing.document:
        return Check(check_id, title, Status.FAIL, f"{use.role}: Z.ai does not list this model at {host_of(listing.url)}", fix)
    if offered is None and (probe is None or not probe.ok):
        return Check(check_id, title, Status.SKIP, f"{use.role}: could not be checked (no working endpoint lists or serves it)")
    spec = provider.spec_for(use.model)
    if provider.lookup(use.model) is None:
        return Check(
            check_id, title, Status.WARN,
            f"{use.role}; offered by Z.ai but not in codexglm's table: assuming a {spec.context_window:,}-token context",
            "Update codexglm for this model's real limits (pip install -U codexglm).",
        )
    return Check(check_id, title, Status.OK, f"{use.role}; {spec.display_name}, {spec.context_window:,}-token context")


def _suggest(model: str, offered: set[str] | None, known: list[str]) -> str:
    """The model Z.ai offers (or we know) that is closest to MODEL, for the fix line:
    the longest shared prefix first (glm-4.20 -> a glm-4.x), then overall similarity."""
    candidates = sorted((offered or set()) & set(known)) or known

    def closeness(candidate: str) -> tuple[int, float]:
        shared = len(os.path.commonprefix([model, candidate]))
        return shared, difflib.SequenceMatcher(None, model, candidate).ratio()

    return max(candidates, key=closeness)


# --------------------------------------------------------------------------- quota

_KINDS = {TOKENS_WINDOW: "tokens", "TIME_LIMIT": "MCP tool calls"}
_WARN_AT = 80


def quota_checks(document: Any, now: datetime) -> list[Check]:
    """One check per usage window of the coding plan (5-hour tokens, weekly, monthly MCP)."""
    checks = [_window_check(index, window, now) for index, window in enumerate(parse_quota(document))]
    data = document.get("data") if isinstance(document, Mapping) else None
    level = data.get("level") if isinstance(data, Mapping) else None
    if checks and isinstance(level, str) and level:
        first = checks[0]
        checks[0] = Check(first.id, first.title, first.status, f"{first.message}; {level} plan", first.fix, first.timings)
    return checks


def _window_check(index: int, window: QuotaWindow, now: datetime) -> Check:
    title = f"{window.name} {_KINDS.get(window.kind, window.kind.lower() or 'usage')}"
    percentage = window.used_percent
    if window.used is not None and window.total:
        amount = f"{window.used:g} / {window.total:g} used"
    elif percentage is not None:
        amount = f"{percentage:g}% used"
    else:
        amount = "usage not reported"
    stamp = window.resets_at
    reset = reset_phrase(datetime.fromtimestamp(stamp, tz=timezone.utc), now) if stamp else ""
    message = f"{amount}{', ' + reset if reset else ''}"
    check_id = f"quota.{index}"
    tokens = window.kind == TOKENS_WINDOW
    if percentage is not None and percentage >= 100:
        status = Status.FAIL if tokens else Status.WARN
        return Check(check_id, title, status, f"used up: {message}", "Wait for the reset or use a key with quota left.")
    if percentage is not None and percentage >= _WARN_AT:
        return Check(check_id, title, Status.WARN, message, "Nearly used up; plan longer tasks after the reset.")
    return Check(check_id, title, Status.OK, message)


def reset_phrase(when: datetime, now: datetime) -> str:
    """"resets 17:05 (in 2h 59m)" in local time; the date too when it is not within a day."""
    local = when.astimezone()
    seconds = (when - now).total_seconds()
    shown = f"{local:%H:%M}" if seconds < 20 * 3600 else f"{local:%b %d %H:%M}"
    return f"resets {shown} (in {format_duration(seconds)})" if seconds > 0 else f"was due to reset at {shown}"
