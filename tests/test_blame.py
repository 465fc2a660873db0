"""A failure that comes from a setting names the setting and where it was set (server/blame.py).

Rule by rule: which settings each kind of failure points to; how each origin (config.toml
key and line, environment variable, flag, key file, a `[providers.NAME]` table, the default)
is said; that a key shows its last four characters at most; and, through the proxy against
the strict mock GLM, that the message Codex receives names the file and key.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st
from trio.testing import MockClock

from codexglm.config import load_config
from codexglm.providers import base as kinds
from codexglm.providers import define_custom_providers
from codexglm.server.app import create_app
from codexglm.server.blame import MODEL, REQUEST_TOO_LARGE, URL, Attempt, clause, explain, responsible
from codexglm.server.failures import ANSWER_TOO_LARGE, shutdown_error
from codexglm.server.upstream import (
    CONNECT_TIMEOUT,
    FIRST_BYTE,
    READ_TIMEOUT,
    UNREACHABLE,
    FirstByteTimeout,
    transport_failure,
)
from codexglm.settings import API_KEYS, ENV, FILE, FLAG, STORED_KEY, Origin, Settings
from codexglm.translate import classify_error, transport_error
from tests.mockglm import DEFAULT_KEY, open_mock_glm
from tests.server_support import AUTH as PROXY_AUTH
from tests.server_support import TOKEN, Script, codex_body, glm_stream, running_proxy, sse_events, sse_response

KEY = "zai-blame-test-key-0042-wxyz"
CODING_PATH = "/api/coding/paas/v4"


# --------------------------------------------------------------------------- the rules


@pytest.mark.parametrize(
    ("kind", "options", "names"),
    [
        (kinds.AUTH, {}, (API_KEYS,)),
        (kinds.ACCOUNT, {}, (API_KEYS,)),
        (kinds.UNKNOWN_MODEL, {}, (MODEL,)),
        (kinds.NOT_FOUND, {}, (URL,)),
        (ANSWER_TOO_LARGE, {}, ("max_answer_bytes",)),
        (REQUEST_TOO_LARGE, {}, ("max_body_bytes",)),
        (kinds.TRANSPORT, {"cause": UNREACHABLE}, (URL,)),
        (kinds.TRANSPORT, {"cause": CONNECT_TIMEOUT}, (URL, "connect_timeout")),
        (kinds.TRANSPORT, {"cause": FIRST_BYTE}, ("first_byte_timeout",)),
        (kinds.TRANSPORT, {"cause": READ_TIMEOUT}, ("read_timeout",)),
        (kinds.TRANSPORT, {"cause": ""}, ()),  # a broken stream: no setting makes that happen
        (kinds.PLAN, {}, (API_KEYS,)),  # no balance, plan expired: the key's account
        (kinds.PLAN, {"model_refused": True}, (MODEL, API_KEYS)),  # the plan lacks the model
        (kinds.PLAN, {"wrong_endpoint": True, "endpoint_mode": "coding-only"}, ("endpoint_mode", URL, API_KEYS)),
        (kinds.PLAN, {"wrong_endpoint": True, "endpoint_mode": "auto"},
         ("endpoint_mode", URL, "key_type", "paid_fallback", API_KEYS)),
        # Not caused by a setting: the provider's state, the prompt, or codexglm itself.
        (kinds.QUOTA, {}, ()),
        (kinds.RATE_LIMIT, {}, ()),
        (kinds.OVERLOADED, {}, ()),
        (kinds.CONTEXT, {}, ()),
        (kinds.CONTENT_FILTER, {}, ()),
        (kinds.BAD_REQUEST, {}, ()),
        ("shutdown", {}, ()),
        ("internal", {}, ()),
    ],
)
def test_each_kind_of_failure_points_to_its_settings(kind: str, options: dict, names: tuple[str, ...]) -> None:
    assert responsible(kind, **options) == names


@pytest.mark.parametrize(
    ("exc", "cause"),
    [
        (FirstByteTimeout("coding endpoint, waited 45 s"), FIRST_BYTE),  # a ReadTimeout, but its own cause
        (httpx.ConnectTimeout("slow"), CONNECT_TIMEOUT),
        (httpx.ReadTimeout("slow"), READ_TIMEOUT),
        (httpx.WriteTimeout("slow"), READ_TIMEOUT),
        (httpx.ConnectError("refused"), UNREACHABLE),
        (httpx.UnsupportedProtocol("ftp"), UNREACHABLE),
        (httpx.RemoteProtocolError("closed"), ""),  # the upstream broke off: no setting's doing
    ],
)
def test_transport_failures_name_what_failed_below_http(exc: Exception, cause: str) -> None:
    assert transport_failure(Settings().upstream, exc).cause == cause


# --------------------------------------------------------------------------- how origins are said


@pytest.mark.parametrize(
    ("origin", "place"),
    [
        (Origin(FILE, "base_url", "/cfg/config.toml", 3), "in /cfg/config.toml:3"),
        (Origin(FILE, "base_url", "/cfg/config.toml"), "in /cfg/config.toml"),
        (Origin(ENV, "ZAI_BASE_URL"), "from $ZAI_BASE_URL"),
        (Origin(FLAG, "--glm-model"), "from --glm-model"),
        (Origin(STORED_KEY, "/cfg/api_key"), "from /cfg/api_key (stored by `codexglm login`)"),
        (Origin(STORED_KEY, "/keys/glm", "/cfg/config.toml", 2), "from /keys/glm (named by `key_file` in /cfg/config.toml:2)"),
        (Origin(), "(the default)"),
    ],
)
def test_each_origin_says_where_to_change_it(origin: Origin, place: str) -> None:
    assert origin.place() == place


def _settings(**origins: Origin) -> Settings:
    return Settings(api_keys=(KEY,), origins={API_KEYS: Origin(ENV, "ZAI_API_KEY"), **origins})


def test_an_overridden_url_names_the_setting_that_built_the_failing_endpoint() -> None:
    settings = _settings(coding_base_url=Origin(FILE, "coding_base_url", "/cfg/config.toml", 4)).replace(
        coding_base_url="http://user:secret@llm.example:8443/api/coding/paas/v4?token=x"
    )
    text = clause(settings, (URL,), Attempt(endpoint="coding"))
    # The URL as shown: no credentials, no query.
    assert text == ("(`coding_base_url` = http://llm.example:8443/api/coding/paas/v4 in /cfg/config.toml:4; "
                    "check it with `codexglm doctor`)")


def test_the_general_endpoint_is_built_by_base_url_not_coding_base_url() -> None:
    settings = _settings(
        base_url=Origin(ENV, "ZAI_BASE_URL"), coding_base_url=Origin(FILE, "coding_base_url", "/c.toml", 1)
    ).replace(base_url="http://a.example/v4", coding_base_url="http://b.example/v4", endpoint_mode="auto")
    assert clause(settings, (URL,), Attempt(endpoint="general")) == (
        "(`base_url` = http://a.example/v4 from $ZAI_BASE_URL; check it with `codexglm doctor`)"
    )


def test_the_region_names_itself_when_it_chose_the_host() -> None:
    settings = _settings(region=Origin(FLAG, "--glm-region")).replace(region="china")
    assert "`region` = https://open.bigmodel.cn/api/coding/paas/v4 from --glm-region" in clause(
        settings, (URL,), Attempt(endpoint="coding")
    )


def test_a_default_url_or_model_is_not_the_users_doing() -> None:
    settings = _settings()
    assert clause(settings, (URL,), Attempt(endpoint="coding")) == ""
    assert clause(settings, (MODEL,), Attempt(requested="gpt-5.5", sent=settings.default_model)) == ""


def test_a_default_wait_or_limit_is_named_as_the_default() -> None:
    assert clause(_settings(), ("first_byte_timeout",)) == (
        "(`first_byte_timeout` = 45.0, the default; check it with `codexglm doctor`)"
    )
    assert clause(_settings(), ("paid_fallback",)) == ""  # a default guard is already explained in the message


def test_a_key_shows_its_last_four_characters_and_its_place_in_the_pool() -> None:
    second = "zai-blame-test-key-0043-abcd"
    settings = Settings(api_keys=(KEY, second), origins={API_KEYS: Origin(STORED_KEY, "/cfg/api_key")})
    text = clause(settings, (API_KEYS,), Attempt(key=2))
    assert text == ("(API key ****abcd (key 2 of 2) from /cfg/api_key (stored by `codexglm login`); "
                    "check it with `codexglm doctor`)")


@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=9, max_size=80))
def test_no_more_than_the_last_four_characters_of_a_key_appear(key: str) -> None:
    settings = Settings(api_keys=(key,), origins={API_KEYS: Origin(ENV, "ZAI_API_KEY")})
    text = clause(settings, (API_KEYS,), Attempt(key=1))
    assert key[-4:] in text
    assert key[:-4] not in text.replace("****" + key[-4:], "")


def test_the_model_is_blamed_on_the_setting_that_chose_it() -> None:
    settings = _settings(
        default_model=Origin(FILE, "default_model", "/c.toml", 1), model_map=Origin(FILE, "model_map", "/c.toml", 5)
    ).replace(default_model="glm-9", model_map={"gpt-5.5": "glm-8"})
    assert "`model_map.gpt-5.5` = glm-8 in /c.toml:5" in clause(settings, (MODEL,), Attempt(requested="gpt-5.5", sent="glm-8"))
    assert "`default_model` = glm-9 in /c.toml:1" in clause(settings, (MODEL,), Attempt(requested="gpt-5.4", sent="glm-9"))
    # Codex's own `-m glm-4.5`: no setting chose it.
    assert clause(settings, (MODEL,), Attempt(requested="glm-4.5", sent="glm-4.5")) == ""
    # The catch-all entry sends every other name.
    catch_all = settings.replace(model_map={"*": "glm-7"})
    assert "`model_map.*` = glm-7 in /c.toml:5" in clause(catch_all, (MODEL,), Attempt(requested="o3", sent="glm-7"))


def test_explain_appends_one_clause_only_when_a_setting_is_responsible() -> None:
    settings = _settings(first_byte_timeout=Origin(FILE, "first_byte_timeout", "/c.toml", 2)).replace(first_byte_timeout=5.0)
    silent = transport_error(settings.upstream, "GLM accepted the request and then sent nothing", FIRST_BYTE)
    explained = explain(silent, settings)
    assert explained.message == (f"{silent.message} (`first_byte_timeout` = 5.0 in /c.toml:2; "
                                 "check it with `codexglm doctor`)")
    assert explained.kind == silent.kind and explained.codex_code == silent.codex_code
    assert explain(shutdown_error(), settings) == shutdown_error()
    busy = classify_error(settings.upstream, 429, {"error": {"code": "1302", "message": "Rate limit reached"}})
    assert explain(busy, settings) == busy


def test_a_model_the_plan_lacks_names_the_setting_that_chose_it() -> None:
    settings = _settings(default_model=Origin(ENV, "GLM_DEFAULT_MODEL")).replace(default_model="glm-5-pro")
    lacking = classify_error(settings.upstream, 429, {"error": {"code": "1311", "message": "Not in your plan"}})
    message = explain(lacking, settings, Attempt(requested="glm-5-pro", sent="glm-5-pro", key=1)).message
    assert message.endswith("(`default_model` = glm-5-pro from $GLM_DEFAULT_MODEL; API key ****wxyz from $ZAI_API_KEY; "
                            "check it with `codexglm doctor`)")


# --------------------------------------------------------------------------- where load_config says values came from


@pytest.fixture
def forget_custom_providers() -> Iterator[None]:
    """A test that defines `[providers.NAME]` tables leaves none registered for the next."""
    yield
    define_custom_providers({})


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"CODEXGLM_CONFIG_DIR": str(tmp_path / "cfg"), "CODEXGLM_STATE_DIR": str(tmp_path / "state"), **extra}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_load_config_records_file_lines_variables_and_flags(tmp_path: Path) -> None:
    path = _write(tmp_path, '# mine\nregion = "china"\nfirst_byte_timeout = 5\n\n[model_map]\n"gpt-5.5" = "glm-4.7"\n')
    env = _env(tmp_path, ZAI_BASE_URL="http://127.0.0.1:9/v4", ZAI_API_KEY=KEY)
    settings = load_config({"endpoint_mode": "auto"}, env=env, flag_names={"endpoint_mode": "--glm-endpoint-mode"}).settings
    assert settings.origin("region") == Origin(FILE, "region", str(path), 2)
    assert settings.origin("first_byte_timeout") == Origin(FILE, "first_byte_timeout", str(path), 3)
    assert settings.origin("model_map") == Origin(FILE, "model_map", str(path), 5)
    assert settings.origin("base_url") == Origin(ENV, "ZAI_BASE_URL")
    assert settings.origin("endpoint_mode") == Origin(FLAG, "--glm-endpoint-mode")
    assert settings.origin(API_KEYS) == Origin(ENV, "ZAI_API_KEY")
    assert settings.origin("read_timeout") == Origin()


def test_load_config_records_the_key_file_and_who_named_it(tmp_path: Path) -> None:
    stored = tmp_path / "cfg" / "api_key"
    stored.parent.mkdir(parents=True)
    stored.write_text(KEY + "\n")
    stored.chmod(0o600)
    assert load_config(env=_env(tmp_path)).settings.origin(API_KEYS) == Origin(STORED_KEY, str(stored))
    own = tmp_path / "glm.key"
    own.write_text(KEY)
    own.chmod(0o600)
    path = _write(tmp_path, f'key_file = "{own}"\n')
    assert load_config(env=_env(tmp_path)).settings.origin(API_KEYS) == Origin(STORED_KEY, str(own), str(path), 1)


@pytest.mark.usefixtures("forget_custom_providers")
def test_a_custom_providers_url_and_key_come_from_its_table_and_variable(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        'provider = "acme"\n\n[providers.acme]\nkey_env = "ACME_KEY"\nbase_url = "http://127.0.0.1:9/v1"\nmodels = ["acme-1"]\n',
    )
    settings = load_config(env=_env(tmp_path, ACME_KEY=KEY)).settings
    assert settings.origin("base_url") == Origin(FILE, "providers.acme.base_url", str(path), 5)
    assert settings.origin(API_KEYS) == Origin(ENV, "ACME_KEY")
    assert clause(settings, (URL,), Attempt(endpoint="default")) == (
        f"(`base_url` = http://127.0.0.1:9/v1 in {path}:5; check it with `codexglm doctor`)"
    )


def test_another_providers_settings_carry_their_own_origins(tmp_path: Path) -> None:
    env = _env(tmp_path, ZAI_API_KEY=KEY, DEEPSEEK_API_KEY="sk-deepseek-test-0099-qrst",
               DEEPSEEK_BASE_URL="http://127.0.0.1:9/v1", ZAI_BASE_URL="http://127.0.0.1:8/v4")
    deepseek = load_config(env=env).settings.for_provider("deepseek")
    assert deepseek.origin(API_KEYS) == Origin(ENV, "DEEPSEEK_API_KEY")
    assert deepseek.origin("base_url") == Origin(ENV, "DEEPSEEK_BASE_URL")
    assert "from $DEEPSEEK_API_KEY" in clause(deepseek, (API_KEYS,), Attempt(key=1))


# --------------------------------------------------------------------------- through the proxy, against the mock GLM


def _proxy_settings(tmp_path: Path, text: str, **env: str) -> tuple[Settings, Path]:
    path = _write(tmp_path, text)
    loaded = load_config(env=_env(tmp_path, **env))
    return loaded.settings.replace(log_dir=str(tmp_path / "logs")), path


async def _post(url: str, path: str, body: dict) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(url + path, json=body, headers=PROXY_AUTH)


async def test_a_base_url_that_answers_404_is_named_in_the_stream_failure(tmp_path: Path) -> None:
    async with open_mock_glm() as mock:
        settings, path = _proxy_settings(tmp_path, f'max_attempts = 1\ncoding_base_url = "{mock.url}/api/wrong/v4"\n',
                                         ZAI_API_KEY=DEFAULT_KEY)
        async with running_proxy(settings) as url:
            response = await _post(url, "/v1/responses", codex_body())
    error = sse_events(response.content)[-1]["response"]["error"]
    assert error["code"] == "invalid_prompt"
    assert f"(`coding_base_url` = {mock.url}/api/wrong/v4 in {path}:2; check it with `codexglm doctor`)" in error["message"]


async def test_a_rejected_stored_key_is_named_by_its_file_in_the_http_error(tmp_path: Path) -> None:
    stored = tmp_path / "cfg" / "api_key"
    async with open_mock_glm() as mock:
        settings, _ = _proxy_settings(tmp_path, f'coding_base_url = "{mock.coding_url}"\n')
        stored.write_text(KEY)
        stored.chmod(0o600)
        settings = settings.replace(**{f: getattr(load_config(env=_env(tmp_path)).settings, f) for f in ("api_keys", "origins")})
        async with running_proxy(settings) as url:
            response = await _post(url, "/v1/responses", codex_body(stream=False))
    assert response.status_code == 401
    message = response.json()["error"]["message"]
    assert "rejected the API key" in message
    assert f"API key ****wxyz from {stored} (stored by `codexglm login`)" in message
    assert KEY[:-4] not in response.text


async def test_an_unknown_default_model_names_the_config_line_on_chat_completions(tmp_path: Path) -> None:
    async with open_mock_glm() as mock:
        settings, path = _proxy_settings(tmp_path, f'coding_base_url = "{mock.coding_url}"\ndefault_model = "glm-9.9"\n',
                                         ZAI_API_KEY=DEFAULT_KEY)
        async with running_proxy(settings) as url:
            codex = await _post(url, "/v1/responses", codex_body(stream=False, model="gpt-5.5"))
            chat = await _post(url, "/v1/chat/completions",
                               {"model": "glm-9.9", "messages": [{"role": "user", "content": "hi"}]})
    assert [r.json["model"] for r in mock.chat_requests] == ["glm-9.9", "glm-9.9"]
    for response in (codex, chat):
        assert response.status_code == 404, response.text
        assert f"(`default_model` = glm-9.9 in {path}:2; check it with `codexglm doctor`)" in response.json()["error"]["message"]


async def test_an_unreachable_url_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    with trio.socket.socket() as probe:
        await probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings, _ = _proxy_settings(tmp_path, "max_attempts = 1\n", ZAI_API_KEY=DEFAULT_KEY,
                                  ZAI_CODING_BASE_URL=f"http://127.0.0.1:{port}{CODING_PATH}")
    async with running_proxy(settings) as url:
        response = await _post(url, "/v1/responses", codex_body())
    message = sse_events(response.content)[-1]["response"]["error"]["message"]
    assert "connection refused" in message
    assert f"(`coding_base_url` = http://127.0.0.1:{port}{CODING_PATH} from $ZAI_CODING_BASE_URL;" in message


async def test_a_silent_upstream_names_the_configured_first_byte_timeout(tmp_path: Path, autojump_clock: MockClock) -> None:
    settings, path = _proxy_settings(tmp_path, "first_byte_timeout = 7\n", ZAI_API_KEY=KEY)
    script = Script(*(sse_response(glm_stream(), delay=3600.0) for _ in range(2)))
    app = create_app(settings, TOKEN, transport=script.transport)
    async with app.test_app() as test_app:
        response = await test_app.test_client().post("/v1/responses", json=codex_body(), headers=PROXY_AUTH)
        events = sse_events(await response.get_data())
    message = events[-1]["response"]["error"]["message"]
    assert "waited 7 s" in message
    assert message.endswith(f"(`first_byte_timeout` = 7.0 in {path}:1; check it with `codexglm doctor`)")


async def test_a_body_over_the_configured_limit_names_max_body_bytes(tmp_path: Path) -> None:
    settings, path = _proxy_settings(tmp_path, "max_body_bytes = 4096\n", ZAI_API_KEY=KEY)
    app = create_app(settings, TOKEN)
    async with app.test_app() as test_app:
        response = await test_app.test_client().post(
            "/v1/responses", data=json.dumps(codex_body("x" * 8000)), headers={**PROXY_AUTH, "Content-Type": "application/json"}
        )
        body = await response.get_json()
    assert response.status_code == 413
    assert body["error"]["message"].endswith(f"(`max_body_bytes` = 4096 in {path}:1; check it with `codexglm doctor`)")


async def test_a_compressed_body_over_the_limit_names_max_body_bytes_too(tmp_path: Path) -> None:
    settings, path = _proxy_settings(tmp_path, "max_body_bytes = 4096\n", ZAI_API_KEY=KEY)
    app = create_app(settings, TOKEN)
    packed = gzip.compress(json.dumps(codex_body("x" * 8000)).encode())
    async with app.test_app() as test_app:
        response = await test_app.test_client().post(
            "/v1/responses", data=packed,
            headers={**PROXY_AUTH, "Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        body = await response.get_json()
    assert response.status_code == 413 and "decompressed" in body["error"]["message"]
    assert body["error"]["message"].endswith(f"(`max_body_bytes` = 4096 in {path}:1; check it with `codexglm doctor`)")


async def test_a_team_gateway_does_not_show_its_members_where_its_settings_live(tmp_path: Path) -> None:
    from codexglm.ledger.store import SqliteStore
    from codexglm.team.gate import Gate
    from codexglm.team.store import TeamStore
    from tests.server_support import mock_settings
    from tests.team_support import ADMIN, bearer, member

    store = TeamStore(SqliteStore(tmp_path / "usage.sqlite3"))
    try:
        alice = store.create(member("alice"))
        async with open_mock_glm(keys={}) as mock:
            settings = mock_settings(mock, tmp_path, origins={API_KEYS: Origin(ENV, "ZAI_API_KEY")})
            for gate in (None, Gate(store)):
                async with running_proxy(settings, gate=gate, admin_token=ADMIN) as url:
                    headers = bearer(alice) if gate else PROXY_AUTH
                    async with httpx.AsyncClient(timeout=30) as client:
                        response = await client.post(f"{url}/v1/responses", json=codex_body(stream=False), headers=headers)
                message = response.json()["error"]["message"]
                assert response.status_code == 401 and "rejected the API key" in message
                # The user's own proxy says where the key came from; the gateway's members are not told.
                assert ("from $ZAI_API_KEY" in message) is (gate is None)
    finally:
        store.close()


@pytest.mark.usefixtures("forget_custom_providers")
async def test_a_custom_providers_table_url_is_named_by_its_line(tmp_path: Path) -> None:
    async with open_mock_glm() as mock:
        text = (f'provider = "acme"\nmax_attempts = 1\n\n[providers.acme]\nkey_env = "ACME_KEY"\n'
                f'base_url = "{mock.url}/acme/v1"\nmodels = ["acme-1"]\n')
        settings, path = _proxy_settings(tmp_path, text, ACME_KEY=KEY)
        async with running_proxy(settings) as url:
            response = await _post(url, "/v1/responses", codex_body(model="gpt-5.5"))
    message = sse_events(response.content)[-1]["response"]["error"]["message"]
    assert "endpoint was not found" in message
    assert f"(`base_url` = {mock.url}/acme/v1 in {path}:6; check it with `codexglm doctor`)" in message
