"""Z.ai's key types and what each pays with on each endpoint (since 2026-10-16).

docs.z.ai/devpack/notice/api-key-management: keys created after 2026-10-16 are Standard
(pay-as-you-go), Personal Coding Plan or Team Plan keys, and the key type decides billing
on every endpoint; older keys are "Compatible" and keep endpoint-dependent billing: plan
quota on the Coding Plan path, cash on the general path even with an active plan.

Z.ai has no API that names a key's type, so `detect_key_type` infers it from answers that
cost nothing: the monitor API (does the account have a plan, which level) and a one-token
request for a free model on each path.  Our reading of the notice, which the mock Z.ai in
tests/ models: Standard keys are served on both paths and have no plan; plan keys (Coding,
Team) are served on both from the plan; a Compatible key is served from the plan on the
Coding Plan path and from cash on the general path (1113 there when there is no cash), so
a Compatible key without a plan gets 1113 on the Coding Plan path.  A plan key and a
Compatible key of an account with cash answer alike; that case is reported as both, and
the endpoint mode chosen for it (Coding Plan path only) is safe for either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..base import CASH, PLAN_QUOTA, UNKNOWN_KEY_TYPE, KeyType

CODING = "coding"
GENERAL = "general"
STANDARD = "standard"
CODING_PLAN = "coding-plan"
TEAM_PLAN = "team-plan"
COMPATIBLE = "compatible"

KEY_TYPES: dict[str, KeyType] = {
    kind.name: kind
    for kind in (
        KeyType(STANDARD, "Standard (pay-as-you-go)", {CODING: CASH, GENERAL: CASH},
                "every endpoint spends your cash balance"),
        KeyType(CODING_PLAN, "Personal Coding Plan", {CODING: PLAN_QUOTA, GENERAL: PLAN_QUOTA},
                "every endpoint uses your plan's quota; the plan is for one person only"),
        KeyType(TEAM_PLAN, "Team Plan", {CODING: PLAN_QUOTA, GENERAL: PLAN_QUOTA},
                "every endpoint uses your team seat's quota"),
        KeyType(COMPATIBLE, "Compatible (created before 2026-10-16)", {CODING: PLAN_QUOTA, GENERAL: CASH},
                "the Coding Plan path uses plan quota, the general path spends cash even with an active plan"),
        KeyType(UNKNOWN_KEY_TYPE, "unknown (run `codexglm login`)", {CODING: PLAN_QUOTA},
                "treated as Compatible: a fallback onto the general path could spend cash"),
    )
}
# The monitor API's plan levels (lite, pro, max); that a Team Plan seat shows as a level naming
# the team is our assumption (no recorded answer of a Team Plan key exists).
_TEAM_MARK = "team"


@dataclass(frozen=True)
class Detection:
    """What the free answers say about a key: its type (or the closest safe reading), the
    types it may also be, and the endpoint mode that spends no cash unexpectedly."""

    key_type: str
    also_possible: tuple[str, ...]
    endpoint_mode: str


def plan_level(quota_answer: Any) -> str | None:
    """The Coding Plan level (lite, pro, max, team...) in a monitor-API answer, or None."""
    if not isinstance(quota_answer, Mapping) or quota_answer.get("success") is not True:
        return None
    data = quota_answer.get("data")
    level = data.get("level") if isinstance(data, Mapping) else None
    return level.strip().lower() or None if isinstance(level, str) else None


def detect_key_type(plan: str | None, coding_served: bool, general_served: bool) -> Detection:
    """The key type that PLAN (the monitor API's level, None: no plan) and whether each
    path served a one-token request point to (see the module docstring)."""
    if plan is None:
        if coding_served:
            return Detection(STANDARD, (), "base-only")
        if general_served:
            return Detection(COMPATIBLE, (), "base-only")
        return Detection(UNKNOWN_KEY_TYPE, (), "coding-only")
    if not coding_served:
        return Detection(UNKNOWN_KEY_TYPE, (), "coding-only")
    if not general_served:
        return Detection(COMPATIBLE, (), "coding-only")
    if _TEAM_MARK in plan:
        return Detection(TEAM_PLAN, (), "coding-only")
    return Detection(CODING_PLAN, (COMPATIBLE,), "coding-only")
