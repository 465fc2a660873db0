"""Flat GLM function names for Codex tools, and the way back."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from codexglm.translate import ToolNames, flat_name

_VALID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def test_simple_names_stay_readable() -> None:
    assert flat_name("exec_command") == "exec_command"
    assert flat_name("echo", "mcp__mini") == "mcp__mini__echo"


def test_long_or_odd_names_are_valid_and_distinct() -> None:
    long_ns = "mcp__" + "a-very-long-server-name" * 3
    first, second = flat_name("read.file", long_ns), flat_name("read/file", long_ns)
    assert _VALID.match(first) and _VALID.match(second) and first != second


def test_collision_with_a_top_level_tool_is_disambiguated() -> None:
    names = ToolNames()
    top = names.register("mcp__mini__echo", None, "function")
    nested = names.register("echo", "mcp__mini", "function")
    assert top.flat == "mcp__mini__echo" and nested.flat != top.flat
    assert names.resolve(nested.flat) == nested and names.resolve(top.flat) == top
    # History uses the same (disambiguated) name as the tool list.
    assert names.chat_name("echo", "mcp__mini") == nested.flat


def test_resolve_forgives_case_and_leaked_markup() -> None:
    names = ToolNames()
    entry = names.register("spawn_agent", "multi_agent_v1", "function")
    assert names.resolve("MULTI_AGENT_V1__SPAWN_AGENT") == entry
    assert names.resolve("multi_agent_v1__spawn_agent</arg_value>") == entry
    assert names.resolve("unknown") is None


_names = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=80)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_names, st.one_of(st.none(), _names)), max_size=30, unique=True))
def test_flattened_names_always_round_trip(tools: list[tuple[str, str | None]]) -> None:
    names = ToolNames()
    entries = [names.register(name, namespace, "function") for name, namespace in tools]
    assert len({e.flat for e in entries}) == len(entries)
    for (name, namespace), entry in zip(tools, entries):
        assert _VALID.match(entry.flat)
        back = names.resolve(entry.flat)
        assert back is not None and (back.name, back.namespace) == (name, namespace)
