"""Tool JSON Schema simplification for GLM."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codexglm.translate.schema import MAX_DEPTH, ensure_object_schema, simplify_schema

# Codex 0.169's own tools (descriptions shortened): already GLM-friendly.
EXEC_COMMAND = {
    "type": "object",
    "properties": {
        "cmd": {"type": "string", "description": "Shell command to execute."},
        "login": {"type": "boolean", "description": "True runs the shell with -l/-i semantics."},
        "max_output_tokens": {"type": "number", "description": "Output token budget."},
        "prefix_rule": {"type": "array", "description": "Reusable approval prefix.", "items": {"type": "string"}},
        "sandbox_permissions": {
            "type": "string",
            "description": "Per-command sandbox override.",
            "enum": ["use_default", "require_escalated"],
        },
    },
    "required": ["cmd"],
    "additionalProperties": False,
}
REQUEST_USER_INPUT = {
    "type": "object",
    "properties": {
        "questions": {
            "type": "array",
            "description": "Questions to show the user.",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "description": "Stable identifier."},
                    "options": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            # A property called "description" is a name, not the keyword.
                            "properties": {"description": {"type": "string"}, "label": {"type": "string"}},
                            "required": ["label", "description"],
                            "additionalProperties": False,
                        },
                    },
                },
                "required": ["id", "options"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["questions"],
    "additionalProperties": False,
}
EMPTY_PARAMS = {"type": "object", "properties": {}, "required": [], "additionalProperties": False}
KEYWORD_RICH = {
    "type": "object",
    "title": "Args",
    "properties": {
        "n": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3, "examples": [2]},
        "s": {"type": "string", "pattern": "^[a-z]+$", "format": "uri", "minLength": 1, "nullable": True},
        "m": {"type": "object", "additionalProperties": {"type": "number"}},
    },
}

# What an MCP server built on pydantic v2 sends.
PYDANTIC_V2 = {
    "$defs": {
        "Priority": {"enum": ["low", "high"], "title": "Priority", "type": "string"},
        "Label": {
            "properties": {
                "name": {"title": "Name", "type": "string"},
                "color": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None, "title": "Color"},
            },
            "required": ["name"],
            "title": "Label",
            "type": "object",
        },
    },
    "properties": {
        "title": {"title": "Title", "type": "string"},
        "priority": {"$ref": "#/$defs/Priority", "default": "low"},
        "labels": {
            "anyOf": [{"items": {"$ref": "#/$defs/Label"}, "type": "array"}, {"type": "null"}],
            "default": None,
            "title": "Labels",
        },
        "due": {"anyOf": [{"format": "date-time", "type": "string"}, {"type": "null"}], "default": None},
    },
    "required": ["title"],
    "title": "create_issueArguments",
    "type": "object",
}
PYDANTIC_V2_SIMPLE = {
    "properties": {
        "title": {"title": "Title", "type": "string"},
        "priority": {"enum": ["low", "high"], "title": "Priority", "type": "string", "default": "low"},
        "labels": {
            "items": {
                "properties": {
                    "name": {"title": "Name", "type": "string"},
                    "color": {"type": "string", "default": None, "title": "Color"},
                },
                "required": ["name"],
                "title": "Label",
                "type": "object",
            },
            "type": "array",
            "default": None,
            "title": "Labels",
        },
        "due": {"format": "date-time", "type": "string", "default": None},
    },
    "required": ["title"],
    "title": "create_issueArguments",
    "type": "object",
}

# pydantic v1 wraps a described $ref in allOf.
PYDANTIC_V1 = {
    "title": "Args",
    "type": "object",
    "properties": {
        "owner": {"title": "Owner", "description": "Who owns it", "allOf": [{"$ref": "#/definitions/User"}]}
    },
    "required": ["owner"],
    "definitions": {
        "User": {
            "title": "User",
            "description": "A user",
            "type": "object",
            "properties": {"login": {"type": "string"}},
            "required": ["login"],
        }
    },
}

# zod-to-json-schema output, as TypeScript MCP servers send it.
ZOD = {
    "type": "object",
    "properties": {
        "query": {"type": "string"},
        "limit": {"anyOf": [{"type": "number"}, {"type": "string"}], "description": "Max results"},
        "cursor": {"type": ["string", "null"]},
    },
    "required": ["query"],
    "additionalProperties": False,
    "$schema": "http://json-schema.org/draft-07/schema#",
}


def schema_nodes(schema: object) -> Iterator[dict]:
    """Every node in a schema position of a simplified schema."""
    if not isinstance(schema, dict):
        return
    yield schema
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for sub in properties.values():
            yield from schema_nodes(sub)
    yield from schema_nodes(schema.get("items"))
    yield from schema_nodes(schema.get("additionalProperties"))


def depth(schema: dict) -> int:
    children = [sub for key in ("items", "additionalProperties") if isinstance(sub := schema.get(key), dict)]
    children += list(schema.get("properties", {}).values())
    return 1 + max((depth(child) for child in children), default=0)


@pytest.mark.parametrize("schema", [EXEC_COMMAND, REQUEST_USER_INPUT, EMPTY_PARAMS, KEYWORD_RICH, {}])
def test_plain_schemas_come_back_equal_as_copies(schema: dict) -> None:
    original = copy.deepcopy(schema)
    result = simplify_schema(schema)
    assert result == schema
    result.setdefault("properties", {})["new"] = {"type": "string"}
    if "items" in str(result):
        next(node for node in schema_nodes(result) if "items" in node)["items"]["x"] = 1
    assert schema == original


def test_pydantic_v2_mcp_schema() -> None:
    original = copy.deepcopy(PYDANTIC_V2)
    assert simplify_schema(PYDANTIC_V2) == PYDANTIC_V2_SIMPLE
    assert PYDANTIC_V2 == original


def test_pydantic_v1_allof_ref_keeps_the_field_description() -> None:
    assert simplify_schema(PYDANTIC_V1) == {
        "title": "Args",
        "type": "object",
        "properties": {
            "owner": {
                "title": "Owner",
                "description": "Who owns it",
                "type": "object",
                "properties": {"login": {"type": "string"}},
                "required": ["login"],
            }
        },
        "required": ["owner"],
    }


def test_zod_schema() -> None:
    assert simplify_schema(ZOD) == {
        "type": "object",
        "properties": {
            "query": {"type": "string"},
            "limit": {"type": "number", "description": "Max results Also accepts: string."},
            "cursor": {"type": "string"},
        },
        "required": ["query"],
        "additionalProperties": False,
    }


# --- $ref ------------------------------------------------------------------------------

def test_ref_siblings_override_the_target() -> None:
    schema = {
        "$defs": {"Id": {"type": "string", "description": "An id", "minLength": 3}},
        "properties": {"a": {"$ref": "#/$defs/Id", "description": "The parent id"}, "b": {"$ref": "#/$defs/Id"}},
    }
    assert simplify_schema(schema)["properties"] == {
        "a": {"type": "string", "description": "The parent id", "minLength": 3},
        "b": {"type": "string", "description": "An id", "minLength": 3},
    }


def test_ref_chains_and_json_pointer_escapes() -> None:
    schema = {
        "$defs": {"Alias": {"$ref": "#/$defs/a~1b"}, "a/b": {"$ref": "#/$defs/x~0y"}, "x~y": {"type": "integer"},
                  "List": [{"type": "string"}, {"type": "boolean"}], "sp ace": {"type": "null"}},
        "properties": {
            "alias": {"$ref": "#/$defs/Alias"},
            "indexed": {"$ref": "#/$defs/List/1"},
            "percent": {"$ref": "#/$defs/sp%20ace"},
        },
    }
    assert simplify_schema(schema)["properties"] == {
        "alias": {"type": "integer"},
        "indexed": {"type": "boolean"},
        "percent": {"type": "null"},
    }


def test_recursive_ref_is_expanded_once() -> None:
    schema = {
        "type": "object",
        "properties": {"root": {"$ref": "#/$defs/Node"}},
        "$defs": {
            "Node": {
                "type": "object",
                "description": "A tree node",
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                },
            }
        },
    }
    root = simplify_schema(schema)["properties"]["root"]
    assert root["description"] == "A tree node"
    assert root["properties"]["children"] == {"type": "array", "items": {"type": "object"}}


def test_recursion_through_the_root_and_mutual_recursion() -> None:
    tree = {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#"}}}}
    assert simplify_schema(tree)["properties"]["kids"]["items"] == {
        "type": "object", "properties": {"kids": {"type": "array", "items": {"type": "object"}}}
    }
    mutual = {
        "$defs": {"A": {"type": "object", "properties": {"b": {"$ref": "#/$defs/B"}}},
                  "B": {"type": "array", "items": {"$ref": "#/$defs/A"}}},
        "properties": {"a": {"$ref": "#/$defs/A"}},
    }
    assert simplify_schema(mutual)["properties"]["a"] == {
        "type": "object", "properties": {"b": {"type": "array", "items": {"type": "object"}}}
    }
    looping = {"$defs": {"L": {"$ref": "#/$defs/L"}, "S": {"type": ["string", "null"], "$ref": "#/$defs/S"}},
               "properties": {"l": {"$ref": "#/$defs/L"}, "s": {"$ref": "#/$defs/S"}}}
    assert simplify_schema(looping)["properties"] == {"l": {"type": "object"}, "s": {"type": "string"}}


@pytest.mark.parametrize(
    "ref", ["https://example.com/schema.json", "#/$defs/Missing", "#Anchor", "#/$defs/List/9", "#/$defs/List/x", 42]
)
def test_unresolvable_refs_become_permissive(ref: object) -> None:
    schema = {"$defs": {"List": [{}]}, "properties": {"a": {"$ref": ref, "description": "kept"}}}
    assert simplify_schema(schema)["properties"]["a"] == {"description": "kept"}


def test_schema_bookkeeping_keywords_are_dropped() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:x",
        "$comment": "internal",
        "$anchor": "top",
        "$defs": {"A": {}},
        "definitions": {"B": {}},
        "type": "object",
        "properties": {"x": {"$id": "urn:y", "type": "string"}},
    }
    assert simplify_schema(schema) == {"type": "object", "properties": {"x": {"type": "string"}}}


# --- anyOf / oneOf / allOf ---------------------------------------------------------------

@pytest.mark.parametrize("key", ["anyOf", "oneOf"])
def test_nullable_pair_becomes_the_non_null_branch(key: str) -> None:
    assert simplify_schema({key: [{"type": "null"}, {"type": "integer", "description": "inner"}]}) == {
        "type": "integer", "description": "inner"
    }
    assert simplify_schema({key: [{"type": "integer", "description": "inner"}, {"type": "null"}],
                            "description": "outer"}) == {"type": "integer", "description": "outer"}


def test_only_null_branches() -> None:
    assert simplify_schema({"anyOf": [{"type": "null"}, {"type": ["null"]}]}) == {"type": "null"}
    assert simplify_schema({"anyOf": [], "description": "d"}) == {"description": "d"}


def test_several_branches_prefer_the_first_object_and_describe_the_rest() -> None:
    schema = {"description": "Target", "anyOf": [
        {"type": "string"},
        {"type": "object", "properties": {"id": {"type": "string"}}},
        {"type": "array", "items": {"type": "string"}},
        {"enum": ["all", "none"]},
        {"description": "A free-form thing"},
        {"type": "object", "properties": {"x": {"type": "number"}}, "description": "also an object"},
    ]}
    assert simplify_schema(schema) == {
        "description": "Target Also accepts: string; array of string; one of \"all\", \"none\"; "
        "A free-form thing; object.",
        "type": "object",
        "properties": {"id": {"type": "string"}},
    }


def test_several_branches_without_object_prefer_an_untyped_one() -> None:
    assert simplify_schema({"oneOf": [{"type": "string"}, {"minimum": 0}, {}]}) == {
        "minimum": 0, "description": "Also accepts: string; any value."
    }
    assert simplify_schema({"anyOf": [{"type": "integer"}, {"type": "boolean"}]}) == {
        "type": "integer", "description": "Also accepts: boolean."
    }


def test_object_variants_merge_into_one_object() -> None:
    schema = {"oneOf": [
        {"type": "object", "properties": {"action": {"const": "click"}, "x": {"type": "integer"}},
         "required": ["action", "x"]},
        {"type": "object", "properties": {"action": {"type": "string", "enum": ["type", "click"]},
                                          "text": {"type": "string"}},
         "required": ["action", "text"]},
        {"properties": {"action": {"const": "scroll"}, "x": {"type": "string"}}, "required": ["action"]},
    ]}
    assert simplify_schema(schema) == {
        "type": "object",
        "properties": {
            "action": {"enum": ["click", "type", "scroll"]},
            "x": {"type": "integer"},
            "text": {"type": "string"},
        },
        "required": ["action"],
    }
    no_required = {"anyOf": [{"type": "object", "properties": {"a": {}}, "required": ["a"]},
                             {"type": "object", "properties": {"a": {}}}]}
    assert simplify_schema(no_required)["required"] == []


def test_enum_variants_merge_into_one_enum() -> None:
    same_type = {"anyOf": [{"type": "string", "const": "a"}, {"type": "string", "enum": ["b", "a"]}]}
    assert simplify_schema(same_type) == {"type": "string", "enum": ["a", "b"]}
    mixed = {"anyOf": [{"type": "string", "enum": ["auto"]}, {"type": "integer", "enum": [1, 2]}]}
    assert simplify_schema(mixed) == {"enum": ["auto", 1, 2]}


def test_anyof_and_oneof_together() -> None:
    schema = {"anyOf": [{"type": "string"}, {"type": "null"}], "oneOf": [{"minLength": 1}, {"type": "null"}]}
    assert simplify_schema(schema) == {"type": "string", "minLength": 1}


def test_allof_merges_members() -> None:
    schema = {
        "description": "Combined",
        "allOf": [
            {"type": "object", "description": "first", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "integer"}, "a": {"type": "number"}}, "required": ["b", "a"]},
            {"allOf": [{"properties": {"c": {"anyOf": [{"type": "boolean"}, {"type": "null"}]}}}]},
            True,
        ],
    }
    assert simplify_schema(schema) == {
        "description": "Combined",
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "integer"}, "c": {"type": "boolean"}},
        "required": ["a", "b"],
    }


# --- keyword rules -----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": ["string", "null"]}, {"type": "string"}),
        ({"type": ["null", "integer"]}, {"type": "integer"}),
        ({"type": ["string", "number", "null"], "description": "Size"},
         {"type": "string", "description": "Size Also accepts: number."}),
        ({"type": ["null"]}, {"type": "null"}),
        ({"type": []}, {}),
        ({"type": [1, "null", "null"]}, {"type": "null"}),
        ({"type": 7}, {}),
        ({"const": "fixed"}, {"enum": ["fixed"]}),
        ({"const": None, "enum": [1, 2]}, {"enum": [None]}),
        ({"const": {"k": [1]}}, {"enum": [{"k": [1]}]}),
    ],
)
def test_type_and_const_rules(schema: dict, expected: dict) -> None:
    assert simplify_schema(schema) == expected


def test_required_is_filtered_to_existing_properties() -> None:
    schema = {"type": "object", "properties": {"a": {}, "b": {}}, "required": ["b", "missing", "a", "b", 3, None]}
    assert simplify_schema(schema)["required"] == ["b", "a"]
    assert simplify_schema({"type": "object", "required": ["a"]}) == {"type": "object", "required": []}
    assert simplify_schema({"type": "object", "required": "a"}) == {"type": "object"}


def test_items_forms() -> None:
    assert simplify_schema({"type": "array", "items": [{"type": "string"}, {"type": "integer"}]}) == {
        "type": "array", "items": {"type": "string"}
    }
    assert simplify_schema({"type": "array", "items": []}) == {"type": "array"}
    assert simplify_schema({"type": "array", "items": True}) == {"type": "array", "items": {}}
    assert simplify_schema({"type": "array", "items": {"$ref": "#/$defs/S"}, "$defs": {"S": {"type": "string"}}}) == {
        "type": "array", "items": {"type": "string"}
    }


def test_additional_properties_forms() -> None:
    assert simplify_schema({"type": "object", "additionalProperties": True}) == {
        "type": "object", "additionalProperties": True
    }
    assert simplify_schema({"additionalProperties": {"anyOf": [{"type": "string"}, {"type": "null"}]}}) == {
        "additionalProperties": {"type": "string"}
    }
    assert simplify_schema({"additionalProperties": "odd"}) == {"additionalProperties": {}}


def test_untranslated_subschema_keywords_are_dropped() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "not": {"required": ["a"]},
        "if": {"properties": {"a": {"const": "x"}}},
        "then": {"required": ["a"]},
        "else": {},
        "patternProperties": {"^x": {"type": "string"}},
        "propertyNames": {"pattern": "^[a-z]+$"},
        "dependentSchemas": {"a": {}},
        "dependencies": {"a": ["b"]},
        "unevaluatedProperties": False,
        "prefixItems": [{}],
        "contains": {},
    }
    assert simplify_schema(schema) == {"type": "object", "properties": {"a": {"type": "string"}}}


def test_nesting_is_capped() -> None:
    schema: dict = {"type": "string", "description": "leaf"}
    for level in range(15):
        schema = {"type": "object", "description": f"level {level}", "properties": {"child": schema}}
    result = simplify_schema(schema)
    assert depth(result) == MAX_DEPTH + 1
    deepest = result
    for _ in range(MAX_DEPTH):
        deepest = deepest["properties"]["child"]
    assert deepest == {"type": "object", "description": "level 4"}
    assert simplify_schema(result) == result


def test_shared_refs_cannot_blow_up_the_output() -> None:
    defs = {f"D{i}": {"type": "object", "properties": {p: {"$ref": f"#/$defs/D{i + 1}"} for p in "abcdef"}}
            for i in range(12)}
    defs["D12"] = {"type": "string"}
    result = simplify_schema({"$defs": defs, "$ref": "#/$defs/D0"})
    assert sum(1 for _ in schema_nodes(result)) < 20_000
    assert all("$ref" not in node for node in schema_nodes(result))


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (None, {}), ([], {}), ("string", {}), (3, {}), (True, {}), (False, {}),
        ({"properties": 5}, {}),
        ({"properties": {"a": True, "b": None, "c": [], "d": False}},
         {"properties": {"a": {}, "b": {}, "c": {}, "d": {}}}),
        ({"anyOf": "x", "oneOf": {"type": "string"}, "allOf": 3}, {}),
        ({"allOf": [1, None, "s"]}, {}),
        ({"anyOf": [1, {"type": "string"}]}, {"description": "Also accepts: string."}),
        ({1: "x", "type": "string"}, {"type": "string"}),
    ],
)
def test_odd_input_never_raises(schema: object, expected: dict) -> None:
    assert simplify_schema(schema) == expected  # type: ignore[arg-type]


# --- ensure_object_schema ------------------------------------------------------------------

@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (None, {"type": "object", "properties": {}}),
        ({}, {"type": "object", "properties": {}}),
        ("x", {"type": "object", "properties": {}}),
        ({"type": "string"}, {"type": "object", "properties": {}}),
        ({"type": ["array", "null"], "items": {}}, {"type": "object", "properties": {}}),
        ({"type": "object"}, {"type": "object", "properties": {}}),
        ({"type": ["object", "null"], "properties": 3}, {"type": "object", "properties": {}}),
        ({"description": "No arguments"}, {"type": "object", "properties": {}, "description": "No arguments"}),
        ({"properties": {"a": {"type": "string"}}}, {"type": "object", "properties": {"a": {"type": "string"}}}),
        (EXEC_COMMAND, EXEC_COMMAND),
    ],
)
def test_ensure_object_schema(schema: object, expected: dict) -> None:
    assert ensure_object_schema(schema) == expected


def test_ensure_object_schema_leaves_the_rest_to_simplify_schema() -> None:
    schema = {"$ref": "#/$defs/P", "$defs": {"P": {"properties": {"q": {"type": ["string", "null"]}}}}}
    ensured = ensure_object_schema(schema)
    assert ensured == {**schema, "type": "object", "properties": {}}
    assert simplify_schema(ensured) == {"type": "object", "properties": {"q": {"type": "string"}}}
    union = {"anyOf": [{"properties": {"a": {}}, "required": ["a"]}, {"properties": {"b": {}}}]}
    assert simplify_schema(ensure_object_schema(union)) == {
        "type": "object", "properties": {"a": {}, "b": {}}, "required": []
    }


def test_ensure_object_schema_never_changes_its_input() -> None:
    first = ensure_object_schema(None)
    first["properties"]["x"] = {}
    assert ensure_object_schema(None) == {"type": "object", "properties": {}}
    untyped = {"properties": "not a dict", "description": "d"}
    ensured = ensure_object_schema(untyped)
    assert ensured == {"type": "object", "properties": {}, "description": "d"}
    assert untyped == {"properties": "not a dict", "description": "d"}
    # Below the top level the result shares the input's values (no copies on the hot path).
    assert ensure_object_schema(EXEC_COMMAND)["properties"] is EXEC_COMMAND["properties"]


# --- properties ------------------------------------------------------------------------------

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=15,
)
_refs = st.sampled_from(["#", "#/$defs/A", "#/$defs/B", "#/definitions/C", "#/properties/p", "#/nope", "http://x"])
_types = st.sampled_from(["object", "string", "integer", "number", "boolean", "array", "null"])


def _schema_children(children: st.SearchStrategy) -> st.SearchStrategy:
    keyed = st.fixed_dictionaries(
        {},
        optional={
            "type": _types | st.lists(_types, max_size=3),
            "description": st.text(max_size=8),
            "properties": st.dictionaries(st.sampled_from(["p", "q", "r"]), children, max_size=3),
            "required": st.lists(st.sampled_from(["p", "q", "z"]), max_size=3),
            "items": children | st.lists(children, max_size=2),
            "additionalProperties": st.booleans() | children,
            "anyOf": st.lists(children, max_size=3),
            "oneOf": st.lists(children, max_size=3),
            "allOf": st.lists(children, max_size=3),
            "$ref": _refs,
            "$defs": st.fixed_dictionaries({}, optional={"A": children, "B": children}),
            "definitions": st.fixed_dictionaries({}, optional={"C": children}),
            "const": _scalars,
            "enum": st.lists(_scalars, max_size=3),
            "default": _json,
            "not": children,
        },
    )
    return keyed | st.booleans()


_schemas = st.recursive(st.fixed_dictionaries({"type": _types}) | st.booleans(), _schema_children, max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(st.one_of(_schemas, _json))
def test_simplify_properties(schema: object) -> None:
    original = copy.deepcopy(schema)
    result = simplify_schema(schema)  # type: ignore[arg-type]
    assert isinstance(result, dict)
    assert schema == original
    for node in schema_nodes(result):
        assert not {"$ref", "anyOf", "oneOf", "allOf", "$defs", "definitions"} & node.keys()
        assert not isinstance(node.get("type"), list)
    assert simplify_schema(result) == result
    ensured = simplify_schema(ensure_object_schema(schema))
    assert ensured["type"] == "object" and isinstance(ensured["properties"], dict)
