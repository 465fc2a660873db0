"""Several providers in one session: selection, routing, slugs, keys per provider, the catalog.

GLM is the default provider and FakeCo (tests/test_providers.py) a second one, registered
the way a built-in is, so what holds here holds for any provider in the registry.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codexglm import providers
from codexglm.codex.catalog import catalog_slugs, slug_providers
from codexglm.config import default_key_file, load_config, no_key_message, store_api_key
from codexglm.ledger.entry import UsageEntry
from codexglm.ledger.writer import Ledger
from codexglm.providers import DEFAULT_PROVIDER, GLM, model_slug, register_provider, route_model, unregister_provider
from codexglm.server import create_app
from codexglm.settings import ProviderAccess, Settings
from tests.server_support import AUTH, TOKEN, Script, codex_body, http_response, sse_events, sse_response, types
from tests.test_providers import BASE, FAKE, KEY

GLM_KEY = "zai-routing-key-0000111122223333"
CODING = "https://api.z.ai/api/coding/paas/v4"
TABLES = {"glm": GLM.models.keys(), "fake": FAKE.models.keys()}


@pytest.fixture(autouse=True)
def fake_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(providers._BUILT_IN, FAKE.name, FAKE)


def _both(**fields: Any) -> Settings:
    return Settings(api_keys=(GLM_KEY,), other_providers={"fake": ProviderAccess((KEY,))}, **fields)


# --- selection -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ("fake/fm-large", ("fake", "fm-large")),  # PROVIDER/MODEL always works
        ("FAKE/fm-small", ("fake", "fm-small")),
        ("fake/not-in-its-table", ("fake", "not-in-its-table")),  # even for ids the table lacks
        ("fm-small", ("fake", "fm-small")),  # a bare id only one provider knows
        ("glm-4.7", ("glm", "glm-4.7")),
        ("glm/glm-4.7", ("glm", "glm-4.7")),
        ("gpt-5.5", ("glm", "gpt-5.5")),  # Codex's own slugs: the default provider maps them
        ("z-ai/glm-5.3", ("glm", "z-ai/glm-5.3")),  # `z-ai` is no registered provider
        ("fake/", ("glm", "fake/")),  # no model after the provider: not a selection
    ],
)
def test_route_model(requested: str, expected: tuple[str, str]) -> None:
    assert route_model(requested, TABLES) == expected


def test_only_the_first_segment_names_a_provider() -> None:
    # OpenRouter's ids carry a slash themselves: `openrouter/z-ai/glm-5.3` asks it for `z-ai/glm-5.3`.
    assert route_model("fake/z-ai/glm-5.3", TABLES) == ("fake", "z-ai/glm-5.3")


def test_the_default_providers_own_ids_win_over_a_provider_prefix() -> None:
    # OpenRouter's ids hold a slash: as the default provider, its `fake/x` is its own model;
    # as another provider, `fake/x` names FakeCo.
    tables = {**TABLES, "openrouter": {"fake/fm-large"}}
    assert route_model("fake/fm-large", tables, "openrouter") == ("openrouter", "fake/fm-large")
    assert route_model("fake/fm-large", tables, "glm") == ("fake", "fm-large")
    assert route_model("openrouter/fake/fm-large", tables, "glm") == ("openrouter", "fake/fm-large")


def test_a_tie_goes_to_the_default_provider_else_to_the_first() -> None:
    shared = {"glm": {"m"}, "fake": {"m"}}
    assert route_model("m", shared) == ("glm", "m")
    assert route_model("m", {"fake": {"m"}, "other": {"m"}}, "glm") == ("fake", "m")
    assert route_model("m", shared, "fake") == ("fake", "m")


@given(st.text(min_size=1, max_size=12).filter(lambda s: "/" not in s), st.text(min_size=1, max_size=20))
def test_a_prefix_routes_exactly_when_it_is_a_registered_provider(head: str, tail: str) -> None:
    provider, model = route_model(f"{head}/{tail}", TABLES)
    if head.lower() in providers.provider_names() and tail.strip():
        assert (provider, model) == (head.lower(), tail.strip())
    else:
        assert provider in providers.provider_names() and model == f"{head}/{tail}".strip()


def test_slugs_are_unique_across_providers_and_glm_keeps_bare_ids() -> None:
    slugs = [model_slug(name, model) for name, models in TABLES.items() for model in models]
    assert len(slugs) == len(set(slugs))
    assert model_slug(DEFAULT_PROVIDER, "glm-5.3") == "glm-5.3" and model_slug("fake", "fm-large") == "fake/fm-large"
    # A slug routes back to the model it names; the configured default provider's are bare too.
    assert all(route_model(model_slug(n, m), TABLES) == (n, m) for n, models in TABLES.items() for m in models)
    assert model_slug("fake", "fm-large", "fake") == "fm-large" and model_slug("glm", "glm-5.3", "fake") == "glm-5.3"


def test_register_provider_refuses_bad_names_and_keeps_built_ins() -> None:
    with pytest.raises(ValueError):
        register_provider(FAKE.__class__(**{**FAKE.__dict__, "name": "a/b"}))
    with pytest.raises(ValueError):
        unregister_provider("glm")
    extra = FAKE.__class__(**{**FAKE.__dict__, "name": "extra"})
    register_provider(extra)
    assert providers.get_provider("extra") is extra
    unregister_provider("extra")
    assert "extra" not in providers.provider_names()


# --- keys and settings per provider ---------------------------------------------------------


def test_each_provider_takes_its_own_variable_or_stored_key(tmp_path: Path) -> None:
    env = {"CODEXGLM_CONFIG_DIR": str(tmp_path), "ZAI_API_KEY": GLM_KEY, "FAKECO_BASE_URL": "http://127.0.0.1:9/v1"}
    assert load_config(env=env).settings.provider_names() == ("glm",)  # no FakeCo key yet
    store_api_key(default_key_file(tmp_path, "fake"), KEY)
    assert stat.S_IMODE((tmp_path / "api_key.fake").stat().st_mode) == 0o600
    settings = load_config(env=env).settings
    assert settings.api_keys == (GLM_KEY,) and settings.provider_names() == ("glm", "fake")
    fake = settings.for_provider("fake")
    assert fake.api_keys == (KEY,) and fake.endpoints() == [("default", "http://127.0.0.1:9/v1")]
    assert fake.default_model == "fm-large" and fake.other_providers == {}
    # The variable wins over the stored key, as for GLM.
    assert load_config(env={**env, "FAKECO_API_KEY": "fk-from-env-12345"}).settings.other_providers["fake"].api_keys == (
        "fk-from-env-12345",
    )


def test_other_providers_keys_never_show_in_repr() -> None:
    assert KEY not in repr(_both()) and KEY[-4:] in repr(_both())


def test_for_provider_keeps_shared_limits_and_drops_the_defaults_own() -> None:
    settings = _both(default_model="glm-4.7", model_map={"a": "glm-4.7"}, base_url="http://x.invalid", max_attempts=2)
    fake = settings.for_provider("fake")
    assert (fake.default_model, fake.model_map, fake.base_url, fake.max_attempts) == ("fm-large", {}, None, 2)
    assert settings.for_provider("glm") is settings


def test_the_no_key_message_points_at_login() -> None:
    assert "`codexglm login`" in no_key_message(GLM) and "ZAI_API_KEY" in no_key_message(GLM)
    assert "`codexglm login fake`" in no_key_message(FAKE)


# --- the proxy routes each request to its model's provider -----------------------------------


def _fake_stream(text: str) -> list[bytes]:
    chunks = [{"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}}]
    return [f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]


async def _ask(settings: Settings, script: Script, *models: str) -> list[list[dict[str, Any]]]:
    app = create_app(settings, TOKEN, transport=script.transport)
    answers = []
    async with app.test_app() as test_app:
        client = test_app.test_client()
        for model in models:
            response = await client.post("/v1/responses", json=codex_body(model=model), headers=AUTH)
            answers.append(sse_events(await response.get_data()))
    return answers


async def test_each_request_goes_to_the_provider_of_its_model() -> None:
    script = Script(sse_response(_fake_stream("from fake")), sse_response(_fake_stream("from glm")))
    answers = await _ask(_both(), script, "fake/fm-small", "glm-4.7")
    assert [types(a)[-1] for a in answers] == ["response.completed", "response.completed"]
    assert script.urls == [f"{BASE}/chat/completions", f"{CODING}/chat/completions"]
    assert script.keys == [KEY, GLM_KEY]  # each provider gets its own key, never the other's
    assert [script.body(0)["model"], script.body(1)["model"]] == ["fm-small", "glm-4.7"]
    # The fake's own request shape (no stream_options, its effort field), GLM's own.
    assert "stream_options" not in script.body(0) and "stream_options" in script.body(1)


async def test_a_model_map_entry_may_point_at_another_provider() -> None:
    script = Script(sse_response(_fake_stream("mapped")))
    await _ask(_both(model_map={"gpt-5.4-mini": "fake/fm-small"}), script, "gpt-5.4-mini")
    assert script.urls == [f"{BASE}/chat/completions"] and script.body()["model"] == "fm-small"


async def test_a_provider_without_a_key_fails_with_its_login_hint() -> None:
    script = Script()
    [events] = await _ask(Settings(api_keys=(GLM_KEY,)), script, "fake/fm-large")
    assert script.requests == []
    failed = events[-1]
    assert failed["type"] == "response.failed"
    assert "FakeCo" in failed["response"]["error"]["message"]


async def test_models_endpoint_and_chat_passthrough_know_every_provider() -> None:
    completion = {"id": "c1", "object": "chat.completion", "created": 1, "model": "fm-large",
                  "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}]}
    script = Script(http_response(200, completion))
    app = create_app(_both(), TOKEN, transport=script.transport)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        listing = await (await client.get("/v1/models", headers=AUTH)).get_json()
        body = {"model": "fake/fm-large", "messages": [{"role": "user", "content": "hi"}]}
        await client.post("/v1/chat/completions", json=body, headers=AUTH)
    ids = [m["id"] for m in listing["data"]]
    assert ids[0] == "glm-5.3" and "glm-5.4" in ids and {"fake/fm-large", "fake/fm-small"} <= set(ids)
    assert script.urls == [f"{BASE}/chat/completions"] and script.body()["model"] == "fm-large"


# --- the catalog lists every provider's models ------------------------------------------------


def test_catalog_lists_every_model_of_every_provider_with_a_key() -> None:
    slugs = catalog_slugs(_both(), ["fake/fm-large"], {"fake": ["fm-new"], "glm": ["glm-9"]})
    assert set(GLM.models) <= set(slugs) and {"fake/fm-large", "fake/fm-small", "fake/fm-new", "glm-9"} <= set(slugs)
    assert slugs["fake/fm-small"] == FAKE.models["fm-small"]
    # A discovered model gets the provider's conservative defaults.
    assert slugs["fake/fm-new"].context_window == 128 * 1024 and not slugs["fake/fm-new"].vision
    assert slug_providers(_both(), slugs)["fake/fm-large"] is FAKE and "glm-5.3" not in slug_providers(_both(), slugs)


def test_catalog_without_a_second_key_has_only_glm() -> None:
    slugs = catalog_slugs(Settings(api_keys=(GLM_KEY,)))
    assert not any(slug.startswith("fake/") for slug in slugs)


async def test_a_chosen_model_the_table_does_not_know_is_sent_as_asked() -> None:
    # `-m fake/fm-next` (a release newer than the table) must not turn into the default model.
    script = Script(sse_response(_fake_stream("new")), sse_response(_fake_stream("default")))
    await _ask(_both(), script, "fake/fm-next", "fake-unknown")
    assert script.body(0)["model"] == "fm-next"
    assert script.urls[1].startswith(CODING) and script.body(1)["model"] == "glm-5.3"  # a bare unknown id: GLM's default


async def test_a_discovered_model_is_routed_and_sent_as_listed() -> None:
    # Listed by FakeCo's /models (cached), not in its table: the bare id goes to FakeCo as is.
    settings = _both().replace(discovered_models={"fake": ("fm-turbo",)})
    script = Script(sse_response(_fake_stream("turbo")))
    await _ask(settings, script, "fm-turbo")
    assert script.urls == [f"{BASE}/chat/completions"] and script.body()["model"] == "fm-turbo"


def test_with_discovered_reads_the_cache_of_each_provider_with_a_key(tmp_path: Path) -> None:
    from codexglm.discovery import store_ids, with_discovered

    store_ids("fake", ["fm-large", "fm-turbo"], tmp_path)
    store_ids("glm", ["glm-5.3", "glm-9"], tmp_path)
    assert with_discovered(_both(), tmp_path).discovered_models == {"glm": ("glm-9",), "fake": ("fm-turbo",)}
    assert with_discovered(Settings(api_keys=(GLM_KEY,)), tmp_path).discovered_models == {"glm": ("glm-9",)}


async def test_health_names_the_providers_and_models_lists_discovered_ones() -> None:
    settings = _both().replace(discovered_models={"fake": ("fm-turbo",), "glm": ("glm-9",)})
    app = create_app(settings, TOKEN, transport=Script().transport)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        health = await (await client.get("/healthz", headers=AUTH)).get_json()
        listing = await (await client.get("/v1/models", headers=AUTH)).get_json()
    assert health["providers"] == ["glm", "fake"]
    assert {"glm-9", "fake/fm-turbo"} <= {m["id"] for m in listing["data"]}


async def test_the_request_log_names_the_provider_of_each_request(tmp_path: Path) -> None:
    settings = _both(log_dir=str(tmp_path))
    script = Script(sse_response(_fake_stream("a")), sse_response(_fake_stream("b")))
    await _ask(settings, script, "fake/fm-small", "glm-4.7")
    records = [json.loads(line) for line in (tmp_path / "requests.jsonl").read_text().splitlines()]
    assert [(r["provider"], r["model_in"], r["model_out"]) for r in records] == [
        ("fake", "fake/fm-small", "fm-small"), ("glm", "glm-4.7", "glm-4.7")]


def test_each_providers_default_model_comes_first_in_the_catalog() -> None:
    # Codex offers spawn_agent only the first few picker models: every provider gets one there.
    assert list(catalog_slugs(_both(default_model="glm-4.7")))[:2] == ["glm-4.7", "fake/fm-large"]


def test_config_shows_where_each_other_providers_key_comes_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from codexglm.cli import main

    for name in ("ZAI_API_KEY", "FAKECO_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CODEXGLM_CONFIG_DIR", str(tmp_path))
    store_api_key(default_key_file(tmp_path, "fake"), KEY)
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert f"# fake key:    key file {tmp_path / 'api_key.fake'} (1 key)" in out and KEY not in out


async def test_codexs_own_slugs_follow_a_default_model_of_another_provider() -> None:
    script = Script(sse_response(_fake_stream("a")), sse_response(_fake_stream("b")))
    await _ask(_both(default_model="fake/fm-small"), script, "gpt-5.5", "glm-4.7")
    assert script.urls == [f"{BASE}/chat/completions", f"{CODING}/chat/completions"]
    assert [script.body(0)["model"], script.body(1)["model"]] == ["fm-small", "glm-4.7"]


async def test_a_bare_id_of_a_provider_without_a_key_lands_on_the_default() -> None:
    # Only providers with a key claim bare ids; `fake/fm-small` would name FakeCo explicitly.
    script = Script(sse_response(_fake_stream("glm")))
    await _ask(Settings(api_keys=(GLM_KEY,)), script, "fm-small")
    assert script.urls == [f"{CODING}/chat/completions"] and script.body()["model"] == "glm-5.3"


class _CapturingLedger(Ledger):
    """The usage ledger's one entry point, keeping what it is given."""

    def __init__(self) -> None:
        super().__init__(None)
        self.entries: list[UsageEntry] = []

    def record(self, entry: UsageEntry, windows: Any = ()) -> None:
        self.entries.append(entry)


@pytest.mark.parametrize(("key_type", "plan"), [("coding-plan", True), ("standard", False), ("unknown", True)])
async def test_the_usage_ledger_names_the_routed_provider_and_who_paid(key_type: str, plan: bool) -> None:
    ledger = _CapturingLedger()
    script = Script(sse_response(_fake_stream("a")), sse_response(_fake_stream("b")))
    app = create_app(_both(key_type=key_type), TOKEN, transport=script.transport, ledger=ledger)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        for model in ("fake/fm-small", "glm-4.7"):
            await (await client.post("/v1/responses", json=codex_body(model=model), headers=AUTH)).get_data()
    fake_entry, glm_entry = ledger.entries
    assert (fake_entry.provider, fake_entry.model, fake_entry.plan) == ("fake", "fm-small", False)
    # A Standard key pays cash even on the Coding Plan path; a plan key (or an unknown one) its plan.
    assert (glm_entry.provider, glm_entry.endpoint, glm_entry.plan) == ("glm", "coding", plan)
