"""Codex's standalone web search protocol (`POST {base_url}/alpha/search`), pure parts.

With `supports_standalone_web_search` on the provider and the `standalone_web_search`
feature, Codex 0.150 ... 0.171 offers the model a `web.run` tool and runs each call by
posting `{id, model, input, commands, settings, max_output_tokens}` to the provider
(`codex-rs/codex-api/src/search.rs`); the answer is `{output, encrypted_output?}`, and
`output` goes back to the model as the tool's result.  Here: reading the commands,
numbering results so later `open`/`find` calls can name them (`turn0search1`), and
finding those references again in the history Codex sends, so the proxy keeps no state.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SEARCH_PATH = "/alpha/search"
# The namespace Codex puts its web tool in; its calls in the history count the turns.
WEB_NAMESPACE = "web"
# Commands Codex defines that no chat provider's search service answers.
UNSUPPORTED = ("image_query", "click", "screenshot", "finance", "weather", "sports", "time")
# Characters of page text per `open`, by Codex's response_length.
PAGE_CHARS = {"short": 3_000, "medium": 8_000, "long": 20_000}
RESULTS = {"short": 5, "medium": 8, "long": 12}
MAX_COMMANDS = 8  # per kind and call, so one call cannot fan out without bound
SNIPPET_CHARS = 600  # of each search result's text
CHARS_PER_TOKEN = 4  # to honour Codex's max_output_tokens without a tokenizer
_REF = re.compile(r"^\[(turn\d+(?:search|view)\d+)\] .*\nURL: (\S+)", re.MULTILINE)


class SearchRequestError(ValueError):
    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True)
class Query:
    q: str
    recency_days: int | None = None
    domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class Open:
    ref: str
    lineno: int | None = None


@dataclass(frozen=True)
class Find:
    ref: str
    pattern: str


@dataclass(frozen=True)
class SearchCommands:
    queries: tuple[Query, ...] = ()
    opens: tuple[Open, ...] = ()
    finds: tuple[Find, ...] = ()
    unsupported: tuple[str, ...] = ()
    length: str = "medium"
    turn: int = 0  # how many web calls came before this one
    max_chars: int | None = None  # from Codex's max_output_tokens
    refs: Mapping[str, str] = field(default_factory=dict)  # earlier result ids -> URLs


def _list(commands: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    value = commands.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise SearchRequestError(f"commands.{name} must be a list of objects.", f"commands.{name}")
    if len(value) > MAX_COMMANDS:
        raise SearchRequestError(f"commands.{name} may hold at most {MAX_COMMANDS} entries.", f"commands.{name}")
    return value


def _text(entry: Mapping[str, Any], key: str, param: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str):
        raise SearchRequestError(f"{param}.{key} must be a string.", f"{param}.{key}")
    return value


def _count(entry: Mapping[str, Any], key: str, param: str) -> int | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SearchRequestError(f"{param}.{key} must be a non-negative integer.", f"{param}.{key}")
    return value


def parse_search_request(body: Mapping[str, Any]) -> SearchCommands:
    """The commands of an /alpha/search body, or SearchRequestError naming the bad field."""
    commands = body.get("commands")
    if commands is None:
        commands = {}
    if not isinstance(commands, dict):
        raise SearchRequestError("commands must be an object.", "commands")
    queries = []
    for i, entry in enumerate(_list(commands, "search_query")):
        param = f"commands.search_query[{i}]"
        q = _text(entry, "q", param).strip()
        domains = entry.get("domains") or []
        if not isinstance(domains, list) or not all(isinstance(d, str) for d in domains):
            raise SearchRequestError(f"{param}.domains must be a list of strings.", f"{param}.domains")
        if q:  # Codex's own hint: an accidental call sends an empty query
            queries.append(Query(q, _count(entry, "recency", param), tuple(domains)))
    opens = [
        Open(_text(e, "ref_id", f"commands.open[{i}]"), _count(e, "lineno", f"commands.open[{i}]"))
        for i, e in enumerate(_list(commands, "open"))
    ]
    finds = [
        Find(_text(e, "ref_id", f"commands.find[{i}]"), _text(e, "pattern", f"commands.find[{i}]"))
        for i, e in enumerate(_list(commands, "find"))
    ]
    length = commands.get("response_length") or "medium"
    if length not in PAGE_CHARS:
        raise SearchRequestError("commands.response_length must be short, medium or long.", "commands.response_length")
    items = body.get("input")
    history = items if isinstance(items, list) else []
    budget = _count(body, "max_output_tokens", "request")
    return SearchCommands(
        queries=tuple(queries),
        opens=tuple(opens),
        finds=tuple(finds),
        unsupported=tuple(name for name in UNSUPPORTED if commands.get(name)),
        length=length,
        turn=sum(1 for item in history if _is_web_call(item)),
        max_chars=budget * CHARS_PER_TOKEN if budget else None,
        refs=earlier_refs(history),
    )


def _is_web_call(item: Any) -> bool:
    return isinstance(item, dict) and item.get("type") == "function_call" and item.get("namespace") == WEB_NAMESPACE


def _output_texts(item: Any) -> list[str]:
    if not isinstance(item, dict) or item.get("type") != "function_call_output":
        return []
    output = item.get("output")
    if isinstance(output, str):
        return [output]
    if isinstance(output, list):
        return [p["text"] for p in output if isinstance(p, dict) and isinstance(p.get("text"), str)]
    return []


def earlier_refs(history: Sequence[Any]) -> dict[str, str]:
    """Result ids of earlier web calls in the history, and the URLs they stand for."""
    refs: dict[str, str] = {}
    for item in history:
        for text in _output_texts(item):
            refs.update((m.group(1), m.group(2)) for m in _REF.finditer(text))
    return refs


def resolve_ref(commands: SearchCommands, ref: str) -> str | None:
    """The URL a `ref_id` names: an earlier result's URL, or the ref itself when it is a URL."""
    if ref in commands.refs:
        return commands.refs[ref]
    return ref if ref.startswith(("http://", "https://")) else None


def result_block(ref: str, title: str, url: str, body: str, published: str | None = None) -> str:
    """One numbered result as the model reads it; `earlier_refs` reads it back."""
    dated = f"\nPublished: {published}" if published else ""
    return f"[{ref}] {_one_line(title)}\nURL: {url}{dated}\n{body.strip()}"


def snippet(text: str) -> str:
    text = text.strip()
    return text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS].rstrip() + " …"


def fit_output(blocks: Sequence[str], max_chars: int | None) -> str:
    """The blocks joined, cut to MAX_CHARS with a note saying so."""
    output = "\n\n".join(blocks)
    if max_chars is None or len(output) <= max_chars:
        return output
    note = "\n(output cut to fit the tool's length limit)"
    return output[: max(0, max_chars - len(note))].rstrip() + note


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300] or "(untitled)"


def page_excerpt(text: str, lineno: int | None, limit: int) -> str:
    """Numbered lines of a page from LINENO (1-based), at most LIMIT characters."""
    lines = text.splitlines()
    start = max(0, (lineno or 1) - 1)
    out: list[str] = []
    used = 0
    for number, line in enumerate(lines[start:], start + 1):
        entry = f"L{number}: {line}"
        if used + len(entry) > limit:
            out.append(f"(page continues at line {number}; open it with lineno {number})")
            break
        out.append(entry)
        used += len(entry) + 1
    return "\n".join(out) or "(no text on this page)"


def find_lines(text: str, pattern: str, limit: int, context: int = 1) -> str:
    """The lines of a page that contain PATTERN (case-insensitive), with a line around each."""
    lines = text.splitlines()
    needle = pattern.lower()
    hits = [i for i, line in enumerate(lines) if needle and needle in line.lower()]
    if not hits:
        return f"No match for {pattern!r} on this page."
    shown: list[str] = []
    used = 0
    last = -1
    for i in hits:
        for j in range(max(i - context, last + 1), min(i + context + 1, len(lines))):
            entry = f"L{j + 1}: {lines[j]}"
            if used + len(entry) > limit:
                shown.append(f"({len(hits)} matches in all; the rest are left out)")
                return "\n".join(shown)
            shown.append(entry)
            used += len(entry) + 1
            last = j
    return "\n".join(shown)
