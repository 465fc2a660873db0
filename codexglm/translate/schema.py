"""Tool JSON Schemas reduced to the subset strict chat upstreams handle.

Some (GLM) answer 500 / code 1234, or streams nothing at all, when a tool schema uses `$ref`,
`anyOf`/`oneOf` or deep nesting.  So every tool schema is flattened before it is sent:
references inlined, combinators collapsed, nesting capped.  Keywords that cause no
trouble pass through untouched, so plain schemas come back equal.

The output is built of new dicts but shares leaf values (enums, defaults) with the input:
neither is changed afterwards, and copying them cost a fifth of a request's translation.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

MAX_DEPTH = 10
_MAX_NODES = 5000  # shared $refs can fan out; this bounds the size of the output
_MAX_HOPS = 32  # bounds chains of $ref / allOf / anyOf resolved at one position

# Keywords holding sub-schemas that we do not translate; the upstream does without them.
_DROPPED = frozenset({
    "additionalItems", "contains", "definitions", "dependencies", "dependentSchemas", "else",
    "if", "not", "patternProperties", "prefixItems", "propertyNames", "then",
    "unevaluatedItems", "unevaluatedProperties",
})
_COMBINATORS = ("anyOf", "oneOf")


def _empty_object() -> dict[str, Any]:
    return {"type": "object", "properties": {}}


def simplify_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` without `$ref`, combinators or deep nesting, as new dicts.  Never raises."""
    return _Simplifier(schema).schema(schema, 0, frozenset())


def ensure_object_schema(schema: object) -> dict[str, Any]:
    """A tool's `parameters` whose top level is certainly an object schema (a new dict).

    Only the top level is touched (no simplification): a missing type becomes "object" and
    missing properties `{}`; anything that is not an object schema becomes an empty one.
    """
    if not isinstance(schema, dict) or not schema:
        return _empty_object()
    kind = schema.get("type")
    if kind is not None and kind != "object" and not (isinstance(kind, list) and "object" in kind):
        return _empty_object()
    ensured = dict(schema)
    ensured["type"] = "object"
    if not isinstance(ensured.get("properties"), dict):
        ensured["properties"] = {}
    return ensured


class _Simplifier:
    def __init__(self, root: object) -> None:
        self._root = root
        self._budget = _MAX_NODES

    def schema(self, node: object, depth: int, seen: frozenset[str]) -> dict[str, Any]:
        """The simplified form of `node`; `seen` holds the $refs expanded above it."""
        self._budget -= 1
        flat, seen = self._flatten(node, seen, 0)
        if depth >= MAX_DEPTH or self._budget <= 0:
            return _stub(flat)
        out: dict[str, Any] = {}
        for key, value in flat.items():
            if not isinstance(key, str) or key.startswith("$") or key in _DROPPED or key == "required":
                continue
            if key == "properties":
                if isinstance(value, dict):
                    out[key] = {name: self.schema(sub, depth + 1, seen) for name, sub in value.items()}
            elif key == "items":
                if isinstance(value, list):  # tuple form: describe the first position only
                    if not value:
                        continue
                    value = value[0]
                out[key] = self.schema(value, depth + 1, seen)
            elif key == "additionalProperties" and not isinstance(value, bool):
                out[key] = self.schema(value, depth + 1, seen)
            else:
                out[key] = value
        required = flat.get("required")
        if isinstance(required, list):
            names = out.get("properties", {})
            out["required"] = [name for name in _unique_names(required) if name in names]
        return out

    def _flatten(self, node: object, seen: frozenset[str], hops: int) -> tuple[dict[str, Any], frozenset[str]]:
        """`node` with `$ref`, `allOf`, `anyOf` and `oneOf` resolved at its top level only."""
        self._budget -= 1
        if not isinstance(node, dict):
            return {}, seen  # boolean or malformed schema: accept anything
        if hops > _MAX_HOPS or self._budget <= 0:
            return _stub(node), seen
        node = dict(node)
        ref = node.pop("$ref", None)
        if ref is not None:
            target, seen = self._deref(ref, seen, hops)
            node = _merge([node, target])  # keywords beside a $ref override the target's
        all_of = node.pop("allOf", None)
        if isinstance(all_of, list):
            parts = [node]
            for member in all_of:
                flat, seen = self._flatten(member, seen, hops + 1)
                parts.append(flat)
            node = _merge(parts)
        for key in _COMBINATORS:
            branches = node.pop(key, None)
            if isinstance(branches, list):
                options = []
                for branch in branches:
                    flat, seen = self._flatten(branch, seen, hops + 1)
                    options.append(flat)
                node = _collapse(node, options)
        _normalize(node)
        return node, seen

    def _deref(self, ref: object, seen: frozenset[str], hops: int) -> tuple[dict[str, Any], frozenset[str]]:
        target = self._resolve(ref) if isinstance(ref, str) else None
        if target is None:
            return {}, seen  # remote or broken reference: accept anything
        assert isinstance(ref, str)  # target is None otherwise
        if ref in seen:  # recursive definition: stop with its bare type
            return {"type": _type_of(target) or "object"}, seen
        return self._flatten(target, seen | {ref}, hops + 1)

    def _resolve(self, ref: str) -> dict[str, Any] | None:
        """Follow a local JSON pointer such as `#/$defs/Item` (or `#` for the root)."""
        if not ref.startswith("#"):
            return None
        pointer = unquote(ref[1:])
        node = self._root
        if pointer:
            if not pointer.startswith("/"):
                return None  # named anchors are not supported
            for part in pointer[1:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                if isinstance(node, dict) and part in node:
                    node = node[part]
                elif isinstance(node, list) and part.isascii() and part.isdigit() and int(part) < len(node):
                    node = node[int(part)]
                else:
                    return None
        if node is True:
            return {}
        return node if isinstance(node, dict) else None


def _collapse(node: dict[str, Any], options: list[dict[str, Any]]) -> dict[str, Any]:
    """Fold flattened anyOf/oneOf branches into `node`, whose own keywords win."""
    non_null = [option for option in options if option.get("type") != "null"] or options[:1]
    if not non_null:
        return node
    note = ""
    if len(non_null) == 1:
        chosen = non_null[0]
    elif all(_is_object(option) for option in non_null):
        chosen = _merge(non_null, union=True)  # an object that fits every variant
    elif all(isinstance(option.get("enum"), list) for option in non_null):
        chosen = _merge_enums(non_null)
    else:
        chosen = next(
            (option for option in non_null if _is_object(option)),
            next((option for option in non_null if "type" not in option), non_null[0]),
        )
        others = [_summary(option) for option in non_null if option is not chosen]
        note = f"Also accepts: {'; '.join(others)}."
    merged = _merge([node, chosen])
    if note:
        _add_note(merged, note)
    return merged


def _merge(parts: list[dict[str, Any]], union: bool = False) -> dict[str, Any]:
    """Combine schemas; the first part wins on conflicts.

    allOf (and keywords beside a $ref) need every constraint: `required` is the union.
    `union` merges alternative objects: only what all of them require stays required,
    and enum-valued properties (discriminators) accept every variant's values.
    """
    out: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if key == "properties" and isinstance(value, dict):
                if not isinstance(out.get(key), dict):
                    out[key] = {}
                props = out[key]
                for name, sub in value.items():
                    props[name] = _union_enum(props[name], sub) if union and name in props else props.get(name, sub)
            elif key != "required":
                out.setdefault(key, value)
    lists = [_required(part) for part in parts if isinstance(part.get("required"), list)]
    if lists:
        if union:
            every: list[list[Any]] = [_required(part) for part in parts]
            out["required"] = [name for name in _unique_names(every[0]) if all(name in req for req in every)]
        else:
            out["required"] = _unique_names([name for req in lists for name in req])
    return out


def _merge_enums(options: list[dict[str, Any]]) -> dict[str, Any]:
    merged = dict(options[0])
    merged["enum"] = _unique([value for option in options for value in option["enum"]])
    if len({str(option.get("type")) for option in options}) > 1:
        merged.pop("type", None)  # mixed value types: the enum alone says it
    return merged


def _union_enum(first: object, second: object) -> object:
    values_a, values_b = _enum_values(first), _enum_values(second)
    if values_a is None or values_b is None or not isinstance(first, dict):
        return first
    merged = {key: value for key, value in first.items() if key != "const"}
    merged["enum"] = _unique(values_a + values_b)
    return merged


def _enum_values(schema: object) -> list[Any] | None:
    if not isinstance(schema, dict):
        return None
    if isinstance(schema.get("enum"), list):
        return list(schema["enum"])
    return [schema["const"]] if "const" in schema else None


def _normalize(node: dict[str, Any]) -> None:
    """`const` -> one-value `enum`; `type: [X, "null"]` -> `X` (other types noted)."""
    if "const" in node:
        node["enum"] = [node.pop("const")]
    kind = node.get("type")
    if isinstance(kind, list):
        names = _unique_names(kind)
        non_null = [name for name in names if name != "null"]
        if non_null:
            node["type"] = non_null[0]
            if len(non_null) > 1:
                _add_note(node, f"Also accepts: {'; '.join(non_null[1:])}.")
        elif names:
            node["type"] = "null"
        else:
            del node["type"]
    elif kind is not None and not isinstance(kind, str):
        del node["type"]


def _stub(node: dict[str, Any]) -> dict[str, Any]:
    """A permissive stand-in keeping only the type and description."""
    out: dict[str, Any] = {}
    kind = _type_of(node)
    if kind:
        out["type"] = kind
    if isinstance(node.get("description"), str):
        out["description"] = node["description"]
    return out


def _type_of(node: dict[str, Any]) -> str | None:
    kind = node.get("type")
    if isinstance(kind, list):
        return next((name for name in kind if isinstance(name, str) and name != "null"), None)
    return kind if isinstance(kind, str) else None


def _is_object(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "object" or (kind is None and isinstance(schema.get("properties"), dict))


def _summary(schema: dict[str, Any]) -> str:
    """A few words naming an alternative we had to leave out."""
    if isinstance(schema.get("enum"), list):
        return "one of " + ", ".join(json.dumps(value, ensure_ascii=False, default=str) for value in schema["enum"])
    kind = schema.get("type")
    items = schema.get("items")
    if kind == "array" and isinstance(items, dict) and isinstance(items.get("type"), str):
        return f"array of {items['type']}"
    if isinstance(kind, str):
        return kind
    description = schema.get("description")
    return description if isinstance(description, str) and description.strip() else "any value"


def _add_note(node: dict[str, Any], note: str) -> None:
    description = node.get("description")
    if isinstance(description, str) and description.strip():
        node["description"] = f"{description.rstrip()} {note}"
    else:
        node["description"] = note


def _unique_names(values: list[Any]) -> list[str]:
    return list(dict.fromkeys(value for value in values if isinstance(value, str)))


def _unique(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if value not in out:
            out.append(value)
    return out


def _required(part: dict[str, Any]) -> list[Any]:
    required = part.get("required")
    return required if isinstance(required, list) else []
