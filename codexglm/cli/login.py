"""`codexglm login [PROVIDER]`: a working, billing-safe setup in one step.

The key is read without echo (or from stdin), checked against the provider, and stored
0600 only once it works.  For Z.ai the check finds the region (keys are region-bound), the
plan and the key type (providers/glm/keytypes.py), from answers that cost nothing: the
model list and the monitor API on each path, and a one-token request for a free model.
The endpoint mode it stores is the one that never spends cash the user did not expect.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import trio

from ..config import LoadedConfig, config_dir, config_path, default_key_file, set_value, split_keys, store_api_key
from ..doctor import network
from ..providers import DEFAULT_PROVIDER, GLM, Provider, get_provider
from ..providers.base import CASH, PLAN_QUOTA, UNKNOWN_KEY_TYPE
from ..providers.glm import endpoints as glm_endpoints
from ..providers.glm.keytypes import CODING_PLAN, COMPATIBLE, KEY_TYPES, Detection, detect_key_type, plan_level
from ..settings import Settings, mask_secret

# Each request of the check gives up after this long: at most three rounds per region, so a
# check with no network ends within about 40 s.
PROBE_TIMEOUT = 6.0
# A model Z.ai does not bill per token, so the probes cost a Standard key nothing.
FREE_PROBE_MODEL = next(
    spec.id for spec in GLM.models.values() if spec.price is None and not spec.plan_only and spec.thinking == "toggle"
)
_BILLING_WORDS = {CASH: "spends your cash balance", PLAN_QUOTA: "uses plan quota"}
# Z.ai's usage policy (docs.z.ai/devpack/usage-policy), said wherever a plan key is set up.
POLICY_NOTE = "A personal Coding Plan is for one person: do not share the key or this proxy (Z.ai usage policy)."


def sharing_warning(settings: Settings, loopback: bool) -> str | None:
    """What to say when a proxy others can reach runs on a personal plan key."""
    personal = settings.provider == GLM.name and settings.key_type in (CODING_PLAN, COMPATIBLE, UNKNOWN_KEY_TYPE)
    return None if loopback or not personal else f"serving beyond this machine. {POLICY_NOTE}"


class LoginError(Exception):
    """The key could not be checked or does not work (nothing was stored)."""


@dataclass(frozen=True)
class PathCheck:
    """One Z.ai path as the key sees it."""

    label: str
    url: str
    chat: network.Outcome  # the one-token request for a free model


@dataclass(frozen=True)
class GlmFindings:
    """A checked Z.ai key: where it works, its plan, and what its answers say its type is."""

    region: str
    paths: tuple[PathCheck, ...]
    plan: str | None
    detection: Detection


@dataclass
class Findings:
    """What `login` prints and stores."""

    lines: list[str] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)  # config.toml entries to store


async def inspect_glm(settings: Settings, key: str, *, timeout: float = PROBE_TIMEOUT) -> GlmFindings:
    """Region, plan and key type of a Z.ai key; LoginError when no region takes it."""
    regions = [settings.region, *(r for r in GLM.regions if r != settings.region)]
    if settings.base_url or settings.coding_base_url:
        regions = [settings.region]  # explicit URLs: there is no other region to try
    refusals: list[str] = []
    unreachable = True  # every attempt failed below HTTP (so the key was never judged)
    async with network.client(timeout) as http:
        for region in regions:
            routed = settings.replace(region=region, api_keys=(key,), default_model=FREE_PROBE_MODEL)
            bases = {"coding": glm_endpoints.coding_url(routed), "general": glm_endpoints.general_url(routed)}
            listed = await _gather(lambda label: network.list_models(http, bases[label], key, timeout=timeout), bases)
            if not any(outcome.ok for outcome in listed.values()):
                refusals.append(f"{network.host_of(bases['coding'])}: {_why(next(iter(listed.values())))}")
                unreachable = unreachable and all(outcome.network is not None for outcome in listed.values())
                continue
            body = network.probe_body(routed, FREE_PROBE_MODEL)
            chats = await _gather(lambda label: network.probe_chat(http, bases[label], key, body, timeout=timeout), bases)
            quota = await network.fetch_quota(http, glm_endpoints.quota_url(routed), key, timeout=timeout)
            plan = plan_level(quota.document) if quota.ok else None
            detection = detect_key_type(plan, chats["coding"].ok, chats["general"].ok)
            paths = tuple(PathCheck(label, bases[label], chats[label]) for label in bases)
            return GlmFindings(region, paths, plan, detection)
    verdict = "cannot reach" if unreachable else "did not accept this key on"
    raise LoginError(f"{GLM.vendor} {verdict} any region ({'; '.join(refusals)})")


async def _gather(ask: Callable[[str], Awaitable[network.Outcome]], labels: Iterable[str]) -> dict[str, network.Outcome]:
    """ask(label) for every label, concurrently."""
    results: dict[str, network.Outcome] = {}

    async def one(label: str) -> None:
        results[label] = await ask(label)

    async with trio.open_nursery() as nursery:
        for label in labels:
            nursery.start_soon(one, label)
    return results


def _why(outcome: network.Outcome) -> str:
    if outcome.error is not None:
        return outcome.error.message
    return outcome.network or outcome.malformed or "no answer"


def describe_glm(findings: GlmFindings, vision_model: str = "auto") -> Findings:
    """The report lines and the settings to store for a checked Z.ai key (VISION_MODEL: the
    configured one, to say whether images will be described on this key)."""
    kind = KEY_TYPES[findings.detection.key_type]
    result = Findings()
    host = network.host_of(findings.paths[0].url)
    result.lines.append(f"region:        {findings.region} ({host})")
    result.lines.append(f"plan:          {findings.plan or 'none (pay-as-you-go)'}")
    also = ", ".join(KEY_TYPES[k].label for k in findings.detection.also_possible)
    result.lines.append(f"key type:      {kind.label}" + (f" (or {also}: Z.ai's answers are alike)" if also else ""))
    for path in findings.paths:
        served = "answers" if path.chat.ok else f"refuses it ({_why(path.chat)})"
        bills = _BILLING_WORDS.get(GLM.billing(kind.name, path.label), "unknown billing")
        result.lines.append(f"{path.label + ':':<15}{path.url} {served}; {bills}")
    mode = findings.detection.endpoint_mode
    result.lines.append(f"endpoint mode: {mode} (never moves a request onto a path that spends cash)")
    if kind.name != UNKNOWN_KEY_TYPE:
        result.lines.append(f"billing:       {kind.note}")
    found = Settings(region=findings.region, endpoint_mode=mode, key_type=kind.name, vision_model=vision_model)
    result.lines.append(f"images:        {_images_note(found)}")
    if findings.plan is not None:
        result.lines.append(POLICY_NOTE)
    result.settings = {"region": findings.region, "endpoint_mode": mode, "key_type": kind.name}
    return result


def _images_note(settings: Settings) -> str:
    """Whether text-only models get images described on this key, and why not where "auto"
    stays off because the vision model would be billed to cash."""
    if settings.describer is not None:
        return f"described by {settings.describer} for text-only models"
    vision = settings.upstream.vision_model
    if settings.vision_model == "auto" and vision is not None:
        return (f"not described ({vision} would spend your cash balance with this key); "
                f"`codexglm config set vision_model {vision}` turns it on")
    return "not described (vision_model = off)"


async def inspect_other(settings: Settings, key: str, *, timeout: float = PROBE_TIMEOUT) -> Findings:
    """A provider without Z.ai's key types: its model list says whether the key works."""
    provider = settings.upstream
    base = settings.endpoints()[0][1]
    async with network.client(timeout) as http:
        listed = await network.list_models(http, base, key, timeout=timeout, provider=provider)
    if not listed.ok:
        raise LoginError(f"{provider.vendor} did not accept this key ({_why(listed)})")
    models = sorted(listed.document)
    result = Findings()
    result.lines.append(f"endpoint:      {base} answers ({len(models)} models listed)")
    return result


def read_key(provider: Provider, stdin_is_tty: bool) -> str:
    """The key, typed without echo, or read from stdin when it is not a terminal."""
    if stdin_is_tty:
        import getpass

        return getpass.getpass(f"{provider.vendor} API key for {provider.name} (input hidden): ")
    return sys.stdin.read()


def login(loaded: LoadedConfig, provider_name: str | None, text: str) -> Findings:
    """Check the key in TEXT for the provider, store it and the settings found; returns
    what was found (masked).  LoginError when it does not work: nothing is stored then."""
    name = provider_name or DEFAULT_PROVIDER
    provider = get_provider(name)
    keys = split_keys(text)
    if len(keys) != 1:
        raise LoginError("give exactly one API key (a key pool is set with `codexglm config set api_key -`)")
    key = keys[0]
    settings = loaded.settings.for_provider(name) if name != loaded.settings.provider else loaded.settings
    if provider.name == GLM.name:
        findings = describe_glm(trio.run(inspect_glm, settings, key), settings.vision_model)
    else:
        findings = trio.run(inspect_other, settings.replace(api_keys=(key,)), key)
    key_file = loaded.key_file if name == loaded.settings.provider else default_key_file(config_dir(), name)
    stored = store_api_key(key_file, key)
    findings.lines.append(f"stored:        {', '.join(mask_secret(k) for k in stored)} in {key_file} (mode 0600)")
    if name == loaded.settings.provider:
        path = config_path()
        for setting, value in findings.settings.items():
            set_value(path, setting, value)
        if findings.settings:
            findings.lines.append(f"config:        {', '.join(f'{k} = {v}' for k, v in findings.settings.items())} ({path})")
    return findings
