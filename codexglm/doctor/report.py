"""Doctor results and how they are shown: pure data and text, no I/O.

A `Check` is one line of the report: a status, one line of why and, when something is
wrong, one line of fix.  Rendering is a function of the checks alone, so it is tested
without touching the network, and the same checks give the terminal view and `--json`.
"""

from __future__ import annotations

import enum
import json
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .. import __version__
from ..settings import mask_secret


class Status(enum.Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"  # not run, or not relevant to this setup


# Display order: ids matching an earlier prefix come first; ties keep their order of arrival
# (checks run concurrently, so arrival order alone would shuffle the report).
ORDER = (
    "config", "key", "local.port", "local.dirs", "local", "codex.install", "codex.config", "codex.catalog", "codex",
    "endpoint.coding", "endpoint.general", "endpoint", "model", "quota", "providers", "proxy",
)
# Section headings; every check id starts with one of these.  Few sections and no blank
# lines between them keep a healthy report on one screen.
SECTIONS: dict[str, str] = {
    "config": "codexglm",
    "key": "codexglm",
    "local": "codexglm",
    "codex": "Codex",
    "endpoint": "Z.ai",
    "model": "Z.ai",
    "quota": "Z.ai",
    "providers": "Other providers",
    "proxy": "Proxy",
}

_SYMBOLS = {Status.OK: "✓", Status.WARN: "⚠", Status.FAIL: "✗", Status.SKIP: "–"}
_ASCII_SYMBOLS = {Status.OK: "ok", Status.WARN: "!!", Status.FAIL: "XX", Status.SKIP: "--"}
_COLOURS = {Status.OK: "32", Status.WARN: "33", Status.FAIL: "31", Status.SKIP: "2"}


@dataclass(frozen=True)
class Check:
    id: str  # "<section>.<name>", stable for scripts reading --json
    title: str
    status: Status
    message: str
    fix: str = ""
    timings: dict[str, float] = field(default_factory=dict)  # milliseconds

    @property
    def section(self) -> str:
        return self.id.split(".", 1)[0]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


@dataclass(frozen=True)
class Report:
    checks: tuple[Check, ...]
    elapsed: float = 0.0  # seconds
    offline: bool = False

    @property
    def failed(self) -> bool:
        return any(check.status is Status.FAIL for check in self.checks)

    def count(self, status: Status) -> int:
        return sum(1 for check in self.checks if check.status is status)

    def ordered(self) -> list[Check]:
        return sorted(self.checks, key=_rank)

    def redacted(self, secrets: Iterable[str]) -> Report:
        """The report with every secret masked: a last line of defence, since every
        message is already built without keys."""
        found = sorted({s for s in secrets if s}, key=len, reverse=True)
        if not found:
            return self

        def clean(text: str) -> str:
            for secret in found:
                text = text.replace(secret, mask_secret(secret))
            return text

        checks = tuple(replace(c, message=clean(c.message), fix=clean(c.fix)) for c in self.checks)
        return replace(self, checks=checks)


def _rank(check: Check) -> int:
    for index, prefix in enumerate(ORDER):
        if check.id == prefix or check.id.startswith(prefix + "."):
            return index
    return len(ORDER)


def exit_code(report: Report) -> int:
    """0 when nothing failed (warnings do not fail), 1 when a check failed."""
    return 1 if report.failed else 0


def render_json(report: Report) -> str:
    document: dict[str, Any] = {
        "codexglm": __version__,
        "ok": not report.failed,
        "exit_code": exit_code(report),
        "offline": report.offline,
        "elapsed_ms": ms(report.elapsed),
        "checks": [
            {
                "id": check.id,
                "title": check.title,
                "status": check.status.value,
                "message": check.message,
                "fix": check.fix or None,
                "timings": check.timings,
            }
            for check in report.ordered()
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


@dataclass(frozen=True)
class Style:
    """How the terminal takes text: colour, symbols it can encode, width to wrap at."""

    colour: bool = False
    unicode: bool = True
    width: int | None = None  # None: do not wrap (piped output is pasted into bug reports)


def render_text(report: Report, style: Style = Style()) -> str:
    checks = report.ordered()
    title_width = max((len(check.title) for check in checks), default=0)
    lines = [f"codexglm doctor {__version__}", ""]
    section = None
    for check in checks:
        heading = SECTIONS.get(check.section, check.section)
        if heading != section:
            section = heading
            lines.append(_paint(heading, "1", style))
        lines += _check_lines(check, title_width, style)
    lines += ["", _summary(report)]
    return "\n".join(lines)


def _check_lines(check: Check, title_width: int, style: Style) -> list[str]:
    symbols = _SYMBOLS if style.unicode else _ASCII_SYMBOLS
    mark = _paint(symbols[check.status], _COLOURS[check.status], style)
    head = f"  {mark} {check.title.ljust(title_width)}  "
    indent = " " * (2 + len(symbols[check.status]) + 1 + title_width + 2)
    lines = _wrap(check.message, head, indent, style)
    if check.fix and check.status in (Status.FAIL, Status.WARN):
        lines += _wrap(check.fix, indent + _paint("fix:", "1", style) + " ", indent + "     ", style)
    return lines


def _wrap(text: str, first: str, rest: str, style: Style) -> list[str]:
    if style.width is None:
        return [first + text]
    visible = len(rest)  # the first prefix may hold colour codes; both are as wide on screen
    width = max(style.width - visible, 20)
    pieces = textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=False) or [""]
    return [first + pieces[0]] + [rest + piece for piece in pieces[1:]]


def _paint(text: str, code: str, style: Style) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if style.colour else text


def _summary(report: Report) -> str:
    failed, warned, skipped = (report.count(s) for s in (Status.FAIL, Status.WARN, Status.SKIP))
    took = f"{report.elapsed:.1f} s"
    parts = [f"{n} {word}" for n, word in ((failed, "failed"), (warned, "warning" + "s" * (warned != 1))) if n]
    if parts:
        text = f"{', '.join(parts)} ({took}). Apply the fixes above; this output contains no API key."
    else:
        text = f"All checks passed ({took})."
    if skipped:
        text += f" {skipped} skipped."
    if report.offline:
        text += " Endpoints, models, quota and the proxy self-test were not checked (--offline)."
    return text


def terminal_style(stream: Any, env: Mapping[str, str]) -> Style:
    """Colour only on a TTY and never with NO_COLOR; ASCII marks where ✓ cannot be encoded."""
    tty = bool(getattr(stream, "isatty", lambda: False)())
    colour = tty and not env.get("NO_COLOR") and env.get("TERM") != "dumb"
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "✓⚠✗–".encode(encoding)
        unicode = True
    except (UnicodeEncodeError, LookupError):
        unicode = False
    width = None
    if tty:
        import shutil

        width = shutil.get_terminal_size((100, 24)).columns
    return Style(colour=colour, unicode=unicode, width=width)
