"""codexglm.catalog: entries from Codex's bundled catalog plus GLM facts, cached per version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from codexglm.codex import catalog
from codexglm.codex.catalog import CatalogError, build_catalog, catalog_entry, catalog_slugs, pick_template
from codexglm.codex.version import CodexInfo, find_codex
from codexglm.providers.base import ModelSpec
from codexglm.providers.glm.models import MODELS
from codexglm.providers.glm.thinking import glm_thinking
from codexglm.settings import Settings
from tests import fake_codex
from tests.codex_cli import codex_binary

TEMPLATE = fake_codex.BUNDLED["models"][1]


def install_fake(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "codex"
    source = Path(fake_codex.__file__).read_text().split("\n", 1)[1]
    path.write_text(f"#!{sys.executable}\n{source}")
    path.chmod(0o755)
    return path


@pytest.fixture
def codex(tmp_path: Path) -> CodexInfo:
    return CodexInfo(str(install_fake(tmp_path / "bin")), (0, 169, 0))


def test_template_is_a_plain_responses_model_with_freeform_patch() -> None:
    models = fake_codex.BUNDLED["models"]
    assert pick_template(models)["slug"] == "gpt-5.5"
    codex_tuned = {**TEMPLATE, "slug": "gpt-5.5-codex"}
    assert pick_template([*models, codex_tuned])["slug"] == "gpt-5.5-codex"
    code_mode = {**TEMPLATE, "slug": "gpt-6", "tool_mode": "code_mode_only"}
    assert pick_template([code_mode, *models])["slug"] == "gpt-5.5"


def test_template_is_chosen_by_capability_not_by_name() -> None:
    renamed = {**TEMPLATE, "slug": "gpt-7-whatever"}
    lite = {**TEMPLATE, "slug": "gpt-5.5", "use_responses_lite": True}
    apply_json = {**TEMPLATE, "slug": "gpt-5.4", "apply_patch_tool_type": "function"}
    assert pick_template([lite, apply_json, renamed, "junk"])["slug"] == "gpt-7-whatever"


@pytest.mark.parametrize("models", [
    [{"slug": "x", "base_instructions": ""}],
    [{**TEMPLATE, "use_responses_lite": True}],
    [{**TEMPLATE, "tool_mode": "code_mode_only"}],
    [],
])
def test_no_usable_template_is_a_catalog_error(models: list) -> None:
    with pytest.raises(CatalogError, match="no plain Responses model"):
        pick_template(models)


def test_shipped_template_is_itself_usable_and_free_of_openai_fields() -> None:
    shipped = catalog.shipped_template()
    assert pick_template([shipped]) is shipped
    assert not set(catalog._OPENAI_ONLY) & set(shipped)


def test_template_fields_added_or_removed_are_tolerated() -> None:
    spec = MODELS["glm-5.1"]
    newer = {**TEMPLATE, "supports_time_travel": True, "brand_new": {"nested": [1]}}
    entry = catalog_entry(spec, newer, vendor="Z.ai", thinking=glm_thinking)
    assert entry["supports_time_travel"] is True and entry["brand_new"] == {"nested": [1]}
    minimal = {"slug": "bare", "base_instructions": "You are Codex, based on GPT-5.", "apply_patch_tool_type": "freeform"}
    entry = catalog_entry(spec, pick_template([minimal]), vendor="Z.ai", thinking=glm_thinking)
    assert entry["base_instructions"] == "You are Codex, based on GLM-5.1."
    assert entry["shell_type"] == "unified_exec" and "model_messages" not in entry


def test_unreadable_bundled_catalog_falls_back_to_the_shipped_template(
    codex: CodexInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CODEX_BUNDLED_FAIL", "1")
    notes: list[str] = []
    path = build_catalog(codex, Settings(), cache_dir=tmp_path / "cache", on_fallback=notes.append)
    assert len(notes) == 1 and "no bundled catalog" in notes[0] and "template codexglm ships" in notes[0]
    entry = json.loads(path.read_text())["models"][0]
    assert len(entry["base_instructions"]) > 1000 and entry["base_instructions"] != TEMPLATE["base_instructions"]
    assert entry["apply_patch_tool_type"] == "freeform"
    monkeypatch.delenv("FAKE_CODEX_BUNDLED_FAIL")
    again = build_catalog(codex, Settings(), cache_dir=tmp_path / "cache", on_fallback=notes.append)
    assert again != path and len(notes) == 1  # Codex asked again, and answered this time


def test_entry_carries_glm_facts_and_codex_prompt() -> None:
    spec = MODELS["glm-5.3"]
    entry = catalog_entry(spec, TEMPLATE, priority=3, vendor="Z.ai", thinking=glm_thinking)
    assert entry["slug"] == "glm-5.3" and entry["display_name"] == spec.display_name
    assert entry["context_window"] == entry["max_context_window"] == spec.context_window
    assert entry["auto_compact_token_limit"] <= 0.9 * spec.context_window
    assert entry["input_modalities"] == ["text", "image"]
    assert [level["effort"] for level in entry["supported_reasoning_levels"]] == list(catalog.reasoning_levels(spec, glm_thinking))
    assert entry["default_reasoning_level"] in catalog.reasoning_levels(spec, glm_thinking)
    assert entry["apply_patch_tool_type"] == "freeform"
    assert entry["shell_type"] == "unified_exec"
    assert entry["use_responses_lite"] is False and entry["support_verbosity"] is False
    assert entry["supports_parallel_tool_calls"] is True and entry["supports_search_tool"] is False
    assert entry["visibility"] == "list" and entry["supported_in_api"] is True and entry["priority"] == 3
    assert entry["truncation_policy"] == TEMPLATE["truncation_policy"]
    # Codex's prompt, with the model's own name instead of OpenAI's.
    assert entry["base_instructions"] == "You are Codex, a coding agent based on GLM-5.3. Be helpful."
    assert entry["model_messages"]["instructions_template"] == entry["base_instructions"]
    # OpenAI-only metadata (upgrade nags, service tiers) does not leak into GLM entries.
    assert "upgrade" not in entry and "service_tiers" not in entry
    # The template itself is untouched.
    assert TEMPLATE["base_instructions"].startswith("You are Codex, a coding agent based on GPT-5.")


def test_the_description_says_which_models_see_images_directly() -> None:
    def described(model: str, describer: str | None) -> str:
        entry = catalog_entry(MODELS[model], TEMPLATE, vendor="Z.ai", thinking=glm_thinking, describer=describer)
        return str(entry["description"])

    assert described("glm-4.6v", "glm-4.6v") == "Z.ai GLM-4.6V through codexglm (sees images)"
    assert described("glm-5.1", "glm-4.6v") == "Z.ai GLM-5.1 through codexglm (images described by glm-4.6v)"
    assert described("glm-5.1", None) == "Z.ai GLM-5.1 through codexglm (text only)"


def test_entry_for_text_model_without_thinking() -> None:
    spec = ModelSpec("glm-x", "GLM-X", 100_000, 8_000, "none")
    entry = catalog_entry(spec, TEMPLATE, vendor="Z.ai", thinking=glm_thinking)
    # Images still reach the proxy, which tells the user they were left out.
    assert entry["input_modalities"] == ["text", "image"]
    assert entry["description"] == "Z.ai GLM-X through codexglm (text only)"
    assert entry["supported_reasoning_levels"] == []
    assert entry["default_reasoning_level"] is None
    assert entry["supports_reasoning_summary_parameter"] is False


def test_default_reasoning_level_follows_glm_defaults() -> None:
    assert catalog.default_reasoning_level(MODELS["glm-5.1"], glm_thinking) == "high"  # thinking on
    forced = MODELS["glm-5.3"]
    assert catalog.default_reasoning_level(forced, glm_thinking) == "max"  # GLM's own default


@pytest.mark.parametrize("slug", sorted(slug for slug, spec in MODELS.items() if spec.thinking != "none"))
def test_every_offered_level_changes_what_the_model_is_asked(slug: str) -> None:
    """The ladder is honest: no two levels send GLM the same request, and each says what it does."""
    spec = MODELS[slug]
    levels = catalog.reasoning_levels(spec, glm_thinking)
    requests = [json.dumps(glm_thinking(spec, level), sort_keys=True) for level in levels]
    assert len(set(requests)) == len(levels) >= 2, dict(zip(levels, requests))
    texts = [text for _, text in catalog.reasoning_ladder(spec, glm_thinking)]
    assert len(set(texts)) == len(texts) and all(text != level for text, level in zip(texts, levels))


def test_toggle_models_can_switch_thinking_off() -> None:
    spec = MODELS["glm-4.7"]
    assert catalog.reasoning_levels(spec, glm_thinking) == ("none", "high")
    assert glm_thinking(spec, "none") == {"thinking": {"type": "disabled"}}
    assert catalog.reasoning_levels(MODELS["glm-5.3"], glm_thinking) == ("low", "high", "max")  # cannot stop thinking
    assert catalog.reasoning_levels(MODELS["glm-5.2"], glm_thinking) == ("none", "high", "max")  # GLM's two depths


def test_every_providers_ladder_is_honest() -> None:
    """Whatever a provider's thinking hook does, no two offered levels send the same request."""
    from codexglm.providers import get_provider, provider_names

    for name in provider_names():
        provider = get_provider(name)
        for spec in provider.models.values():
            levels = catalog.reasoning_levels(spec, provider.thinking)
            requests = {json.dumps(provider.thinking(spec, level), sort_keys=True) for level in levels}
            assert len(requests) == len(levels), (name, spec.id, levels)


def test_entry_from_base_instructions_only() -> None:
    template = {k: v for k, v in TEMPLATE.items() if k != "model_messages"}
    entry = catalog_entry(MODELS["glm-5"], template, vendor="Z.ai", thinking=glm_thinking)
    assert "model_messages" not in entry
    assert entry["base_instructions"].startswith("You are Codex, a coding agent based on GLM-5.")


def test_slugs_cover_every_name_codex_may_ask_for() -> None:
    settings = Settings(default_model="glm-9", model_map={"gpt-5.5": "glm-4.7", "*": "glm-5"})
    slugs = catalog_slugs(settings, ["o3", "glm-5.1"])
    assert set(MODELS) <= set(slugs)
    assert slugs["gpt-5.5"] is MODELS["glm-4.7"]
    assert slugs["glm-9"].id == "glm-9"  # newer than the table: a conservative spec
    assert slugs["o3"] is MODELS["glm-5"]  # unknown names map through "*"
    assert "*" not in slugs
    entry = catalog_entry(slugs["gpt-5.5"], TEMPLATE, slug="gpt-5.5", vendor="Z.ai", thinking=glm_thinking)
    assert entry["slug"] == "gpt-5.5" and entry["display_name"] == "gpt-5.5 (GLM-4.7)"


def test_build_catalog_writes_once_and_reuses(codex: CodexInfo, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = build_catalog(codex, Settings(), cache_dir=cache)
    document = json.loads(path.read_text())
    # The default model first, then the rest of the table in its order.
    slugs = [m["slug"] for m in document["models"]]
    assert slugs[0] == "glm-5.3" and sorted(slugs[: len(MODELS)]) == sorted(MODELS)
    assert [s for s in slugs if s != "glm-5.3"][: len(MODELS) - 1] == [m for m in MODELS if m != "glm-5.3"]
    assert path.parent == cache and path.name.startswith("catalog-0.169.0-")
    os.unlink(codex.path)  # a cache hit never runs codex
    assert build_catalog(codex, Settings(), cache_dir=cache) == path


def test_cache_key_follows_codex_version_and_names(codex: CodexInfo, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = build_catalog(codex, Settings(), cache_dir=cache)
    with_extra = build_catalog(codex, Settings(), extra_models=["o3"], cache_dir=cache)
    assert with_extra != first and first.exists()
    assert "o3" in [m["slug"] for m in json.loads(with_extra.read_text())["models"]]
    newer = build_catalog(CodexInfo(codex.path, (0, 169, 5)), Settings(), cache_dir=cache)
    assert newer.name.startswith("catalog-0.169.5-")
    # Catalogs of other Codex versions are pruned.
    assert not first.exists() and not with_extra.exists() and newer.exists()


def test_unwritable_cache_falls_back_to_scratch(codex: CodexInfo, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("")
    scratch = tmp_path / "scratch"
    path = build_catalog(codex, Settings(), cache_dir=blocked, scratch=lambda: scratch)
    assert path.parent == scratch and json.loads(path.read_text())["models"]
    with pytest.raises(CatalogError, match="cannot write the model catalog"):
        build_catalog(codex, Settings(), cache_dir=blocked)


def test_bundled_catalog_failure_is_a_catalog_error(codex: CodexInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CODEX_BUNDLED_FAIL", "1")
    with pytest.raises(CatalogError, match="no bundled catalog"):
        build_catalog(codex, Settings(), cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


def test_missing_codex_is_a_catalog_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot run"):
        catalog.bundled_catalog(CodexInfo(str(tmp_path / "nope"), (0, 169, 0)))


# --- against the real Codex ---------------------------------------------------------------


def real_codex() -> CodexInfo:
    path = codex_binary(install_missing=False)
    if path is None:
        pytest.skip("the pinned Codex CLI is not installed (python -m tests.codex_cli --install)")
    return find_codex({"CODEXGLM_CODEX": path})


def loaded_by_codex(codex: CodexInfo, path: Path, tmp_path: Path) -> dict[str, dict]:
    """The models the real CODEX shows with the catalog at PATH (in a clean CODEX_HOME)."""
    env = {**os.environ, "CODEX_HOME": str(tmp_path / "home"), "HOME": str(tmp_path)}
    (tmp_path / "home").mkdir()
    done = subprocess.run(
        [codex.path, "-c", f"model_catalog_json={json.dumps(str(path))}", "debug", "models"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return {m["slug"]: m for m in json.loads(done.stdout)["models"]}


@pytest.mark.e2e
def test_real_codex_loads_the_catalog_without_fallback(tmp_path: Path) -> None:
    codex = real_codex()
    settings = Settings(model_map={"gpt-5.5": "glm-5.1"})
    path = build_catalog(codex, settings, cache_dir=tmp_path / "cache")
    loaded = loaded_by_codex(codex, path, tmp_path)
    assert set(MODELS) | {"gpt-5.5"} <= set(loaded)
    for slug, spec in MODELS.items():
        assert loaded[slug]["context_window"] == spec.context_window
        assert loaded[slug]["apply_patch_tool_type"] == "freeform"
    assert len(loaded["glm-5.1"]["base_instructions"]) > 1000  # Codex's real prompt


@pytest.mark.e2e
def test_real_codex_loads_a_catalog_from_the_shipped_template(tmp_path: Path) -> None:
    codex = real_codex()
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog.catalog_document(catalog.shipped_template(), catalog_slugs(Settings()), "Z.ai", glm_thinking)))
    assert set(MODELS) <= set(loaded_by_codex(codex, path, tmp_path))
