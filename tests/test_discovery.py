"""Models on day one: `/models` answers parsed, cached, refreshed at most daily, merged with
the tables; models only the upstream knows get conservative defaults, a note, and work."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from codexglm import discovery
from codexglm.cli import main
from codexglm.discovery import DiscoveryError, cached_ids, is_stale, listed_models, parse_model_ids, refresh, store_ids
from codexglm.providers import GLM
from codexglm.settings import API_KEYS, ENV, FILE, Origin, Settings
from tests.mockglm import DEFAULT_KEY, open_mock_glm

KEY = "zai-discovery-key-5555666677778888"
SETTINGS = Settings(api_keys=(KEY,), coding_base_url="http://glm.test/api/coding/paas/v4")


def test_both_list_shapes_are_read_in_order_without_duplicates_or_embeddings() -> None:
    # Z.ai's China list carries embedding-3 and duplicates (api.md §1.4); Codex roots list slugs.
    china = {"object": "list", "data": [{"id": "glm-4.7", "object": "model", "created": 1766332800, "owned_by": "z-ai"},
                                        {"id": "embedding-3", "object": "model", "owned_by": "organization-owner"},
                                        {"id": "GLM-4.7", "object": "model"}]}
    assert parse_model_ids(china) == ["glm-4.7"]
    assert parse_model_ids({"models": [{"slug": "glm-5.3"}, {"slug": "glm-5.4"}]}) == ["glm-5.3", "glm-5.4"]
    assert parse_model_ids({"data": [{"id": 7}, "x", {"id": " "}]}) == []
    # Kept as the provider spells them: some upstreams match ids case-sensitively.
    assert parse_model_ids({"data": [{"id": "MiniMax-M3"}, {"id": "minimax-m3"}]}) == ["MiniMax-M3"]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["data", "models", "id", "slug"]), inner, max_size=4),
    max_leaves=20,
)


@given(_json)
def test_any_answer_parses_to_a_list_of_ids_and_never_raises(document: Any) -> None:
    ids = parse_model_ids(document)
    assert all(isinstance(i, str) and i == i.strip() and i for i in ids)
    assert len({i.lower() for i in ids}) == len(ids)


def test_the_cache_round_trips_and_goes_stale_after_a_day(tmp_path: Path) -> None:
    assert cached_ids("glm", tmp_path) == ([], None)
    store_ids("glm", ["glm-5.4", "glm-9"], tmp_path, now=1000.0)
    assert cached_ids("glm", tmp_path) == (["glm-5.4", "glm-9"], 1000.0)
    assert not is_stale(1000.0, now=1000.0 + discovery.REFRESH_SECONDS - 1)
    assert is_stale(1000.0, now=1000.0 + discovery.REFRESH_SECONDS) and is_stale(None)
    (tmp_path / "models-glm.json").write_text("{not json")
    assert cached_ids("glm", tmp_path) == ([], None)


def _transport(ids: list[str], calls: list[httpx.Request]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"object": "list", "data": [{"id": i} for i in ids]})

    return httpx.MockTransport(answer)


def test_refresh_asks_at_most_daily_unless_forced(tmp_path: Path) -> None:
    calls: list[httpx.Request] = []
    transport = _transport(["glm-5.3", "glm-9"], calls)
    assert refresh(SETTINGS, tmp_path, transport=transport) == ["glm-5.3", "glm-9"]
    assert refresh(SETTINGS, tmp_path, transport=transport) == ["glm-5.3", "glm-9"]
    assert len(calls) == 1 and str(calls[0].url) == "http://glm.test/api/coding/paas/v4/models"
    assert calls[0].headers["authorization"] == f"Bearer {KEY}"
    refresh(SETTINGS, tmp_path, force=True, transport=transport)
    assert len(calls) == 2
    stored = json.loads((tmp_path / "models-glm.json").read_text())
    assert KEY not in json.dumps(stored) and abs(stored["fetched_at"] - time.time()) < 60


def test_refresh_failures_are_one_line_without_the_key(tmp_path: Path) -> None:
    refused = httpx.MockTransport(lambda request: httpx.Response(401, json={"error": {"code": "1002", "message": KEY}}))
    with pytest.raises(DiscoveryError) as failure:
        refresh(SETTINGS, tmp_path, transport=refused)
    assert str(failure.value) == "Z.ai /models answered HTTP 401"

    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(DiscoveryError, match="cannot reach Z.ai"):
        refresh(SETTINGS, tmp_path, transport=httpx.MockTransport(broken))
    with pytest.raises(DiscoveryError, match="no Z.ai key"):
        refresh(Settings(), tmp_path)


def test_a_refused_listing_names_where_the_key_or_url_was_set(tmp_path: Path) -> None:
    settings = SETTINGS.replace(origins={
        API_KEYS: Origin(ENV, "ZAI_API_KEY"), "coding_base_url": Origin(FILE, "coding_base_url", "/cfg/config.toml", 2),
    })
    refused = httpx.MockTransport(lambda request: httpx.Response(401, json={"error": {"code": "1002"}}))
    with pytest.raises(DiscoveryError) as failure:
        refresh(settings, tmp_path, force=True, transport=refused)
    assert str(failure.value) == (f"Z.ai /models answered HTTP 401 (API key ****{KEY[-4:]} from $ZAI_API_KEY; "
                                  "check it with `codexglm doctor`)")
    missing = httpx.MockTransport(lambda request: httpx.Response(404, text="Not Found"))
    with pytest.raises(DiscoveryError) as failure:
        refresh(settings, tmp_path, force=True, transport=missing)
    assert "(`coding_base_url` = http://glm.test/api/coding/paas/v4 in /cfg/config.toml:2;" in str(failure.value)


def test_unknown_listed_models_get_conservative_defaults_and_a_note() -> None:
    listed = listed_models(GLM, ["glm-5.3", "glm-5.9-preview"])
    assert list(listed)[: len(GLM.models)] == list(GLM.models)  # the table first, as it is
    assert listed["glm-5.3"].note == "" and listed["glm-5.3"].spec is GLM.models["glm-5.3"]
    new = listed["glm-5.9-preview"]
    assert new.spec.context_window == 128 * 1024 and not new.spec.vision and not new.spec.tool_stream
    assert "not in codexglm's table" in new.note and "Z.ai" in new.note
    # The Coding Plan answers GLM-5.1 and GLM-5.2 with GLM-5.3 (since August 2026).
    assert listed["glm-5.1"].note == listed["glm-5.2"].note == "Z.ai's subscription plan answers it with glm-5.3"


async def test_models_command_shows_a_new_release_with_its_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("ZAI_API_KEY", "GLM_DEFAULT_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CODEXGLM_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("CODEXGLM_CACHE_DIR", str(tmp_path / "cache"))
    async with open_mock_glm() as mock:
        mock.listed = [*mock.listed, "glm-5.9-preview"]
        monkeypatch.setenv("ZAI_API_KEY", DEFAULT_KEY)
        monkeypatch.setenv("ZAI_CODING_BASE_URL", mock.coding_url)
        assert await trio.to_thread.run_sync(main, ["models", "--refresh"]) == 0
        listings = [r for r in mock.requests if r.path.endswith("/models")]
        # Fresh now: the next run asks nobody.
        assert await trio.to_thread.run_sync(main, ["models"]) == 0
        assert [r for r in mock.requests if r.path.endswith("/models")] == listings
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.strip().startswith("glm-5.9-preview"))
    assert re.search(r"\[\d\]", row) and "131,072" in row
    assert "listed by Z.ai but not in codexglm's table" in out
    assert "subscription plan answers it with glm-5.3" in out
    assert len(listings) == 1


async def test_doctor_refreshes_the_cache_with_the_list_it_gets(tmp_path: Path) -> None:
    from codexglm.doctor import Limits, diagnose

    env = {"CODEXGLM_CONFIG_DIR": str(tmp_path / "c"), "CODEXGLM_STATE_DIR": str(tmp_path / "s"),
           "CODEXGLM_CACHE_DIR": str(tmp_path / "cache"), "CODEXGLM_CODEX": str(tmp_path / "no-codex")}
    async with open_mock_glm() as mock:
        mock.listed = ["glm-5.3", "glm-5.9-preview"]
        await diagnose({**env, "ZAI_API_KEY": DEFAULT_KEY, "ZAI_CODING_BASE_URL": mock.coding_url,
                        "ZAI_BASE_URL": mock.general_url}, limits=Limits(probe=2, codex=2, selftest=3, total=8))
    assert cached_ids("glm", tmp_path / "cache")[0] == ["glm-5.3", "glm-5.9-preview"]
