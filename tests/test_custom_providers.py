"""A provider from a `[providers.NAME]` table in config.toml: parsed, checked, registered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from codexglm import providers
from codexglm.config import ConfigError, load_config
from codexglm.launcher import codex_environment
from codexglm.providers import get_provider, key_variables, provider_names
from codexglm.providers.custom import KNOWN_KEYS, custom_provider
from codexglm.translate import build_chat_request, classify_error
from tests import codex_fixtures as cf

_TABLE = '''
provider = "acme"

[providers.acme]
vendor = "Acme AI"
base_url = "https://llm.acme.example/v1/"
key_env = "ACME_LLM_KEY"
models = ["acme-small", { id = "Acme-Large", context_window = 262144, max_output = 8192, thinking = "effort", vision = true, price = [1, 0.1, 4.5] }]
default_model = "acme-large"
reasoning_fields = ["reasoning"]
reasoning_replay_field = "reasoning"
reasoning_required_on_tool_calls = true
max_tokens_field = "max_completion_tokens"
cached_tokens_fields = ["cache_read_tokens"]
rejected_fields = ["tool_choice"]
thinking_toggle = "thinking-type"
effort_field = "reasoning_effort"
efforts = { high = "high", max = "max" }
'''


@pytest.fixture(autouse=True)
def _no_custom_providers_left_behind() -> Iterator[None]:
    yield
    providers.define_custom_providers({})


def _load(tmp_path: Path, text: str, **env: str) -> object:
    (tmp_path / "config.toml").write_text(text)
    return load_config(env={"CODEXGLM_CONFIG_DIR": str(tmp_path), "CODEXGLM_STATE_DIR": str(tmp_path / "state"), **env})


def test_a_table_becomes_a_registered_provider_with_its_own_key_and_url(tmp_path: Path) -> None:
    loaded = _load(tmp_path, _TABLE, ACME_LLM_KEY="acme-key-0000111", ACME_BASE_URL="http://127.0.0.1:9/v1")
    settings = loaded.settings  # type: ignore[attr-defined]
    assert settings.provider == "acme" and settings.default_model == "Acme-Large"
    assert settings.api_keys == ("acme-key-0000111",) and loaded.sources["api_keys"] == "env ACME_LLM_KEY"  # type: ignore[attr-defined]
    assert settings.endpoints() == [("default", "http://127.0.0.1:9/v1")]  # ACME_BASE_URL wins over the table
    assert "acme" in provider_names() and "ACME_LLM_KEY" in key_variables()
    assert "ACME_LLM_KEY" not in codex_environment({"ACME_LLM_KEY": "acme-key-0000111", "PATH": "/bin"})
    assert list(get_provider("acme").models) == ["acme-small", "Acme-Large"]  # the provider's own spelling
    large = get_provider("acme").lookup("acme-large")
    assert large is not None and (large.context_window, large.max_output, large.thinking, large.vision) == (262144, 8192, "effort", True)
    assert large.price == (1.0, 0.1, 4.5) and get_provider("acme").models["acme-small"].price is None


def test_the_quirk_switches_are_those_of_the_built_in_providers(tmp_path: Path) -> None:
    _load(tmp_path, _TABLE)
    acme = get_provider("acme")
    history = [cf.function_call("c1", "exec_command", {"cmd": "ls"}), cf.call_output("c1", "ok")]
    body = build_chat_request(cf.body(*history, model="acme-large", reasoning={"effort": "high"}, max_output_tokens=99_999),
                              cf.options(provider=acme, default_model="acme-small")).body
    assert body["model"] == "Acme-Large" and body["thinking"] == {"type": "enabled"} and body["reasoning_effort"] == "high"
    assert body["max_completion_tokens"] == 8192 and "tool_choice" not in body
    assert next(m for m in body["messages"] if m.get("tool_calls"))["reasoning"] == ""
    error = classify_error(acme, 401, {"error": {"message": "bad key"}})
    assert error.message == "Acme AI rejected the API key (HTTP 401: bad key). Check ACME_LLM_KEY."


def test_a_minimal_table_needs_only_a_base_url_and_models() -> None:
    acme = custom_provider("my-llm", {"base_url": "http://127.0.0.1:1234/v1", "models": ["local"]})
    assert acme.key_env == "MY_LLM_API_KEY" and acme.env_settings == {"MY_LLM_BASE_URL": "base_url"}
    assert acme.default_model == "local" and acme.vendor == "my-llm"
    assert acme.thinking(acme.models["local"], "high") == {}  # no thinking switch unless one is named


@pytest.mark.parametrize(("table", "complaint"), [
    ({"models": ["m"]}, "providers.x.base_url must be a str"),
    ({"base_url": "ftp://x", "models": ["m"]}, "must be an http(s) URL"),
    ({"base_url": "http://x/v1"}, "providers.x.models must list at least one model"),
    ({"base_url": "http://x/v1", "models": [3]}, "providers.x.models[0] must be a model id or a table"),
    ({"base_url": "http://x/v1", "models": [{"id": "m", "context": 5}]}, "unknown key 'context'"),
    ({"base_url": "http://x/v1", "models": [{"id": "m", "context_window": 0}]}, "context_window must be positive"),
    ({"base_url": "http://x/v1", "models": ["m"], "thinking": "sometimes"}, "thinking must be one of toggle, effort"),
    ({"base_url": "http://x/v1", "models": ["m"], "default_model": "n"}, "default_model 'n' is not one of its models"),
    ({"base_url": "http://x/v1", "models": ["m"], "thinking_toggle": "brain"}, "thinking_toggle must be one of"),
    ({"base_url": "http://x/v1", "models": ["m"], "key_env": "NOT A NAME"}, "must be an environment variable name"),
    ({"base_url": "http://x/v1", "models": ["m"], "inline_think_tags": "yes"}, "inline_think_tags must be a bool"),
    ({"base_url": "http://x/v1", "models": ["m"], "reasoning_replay": "shout"}, "reasoning_replay must be one of"),
    ({"base_url": "http://x/v1", "models": ["m"], "rejected_fields": "tool_choice"}, "must be a non-empty list"),
    ({"base_url": "http://x/v1", "models": ["m"], "efforts": {"high": 3}}, "efforts must map Codex efforts"),
    ({"base_url": "http://x/v1", "models": ["m"], "colour": "red"}, "unknown key 'colour'"),
    ({"base_url": "http://x/v1", "models": [{"id": "m", "price": [1, 2]}]}, "price must be [input, cached input, output]"),
])
def test_a_bad_table_is_refused_naming_the_key(table: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValueError, match="providers.x") as raised:
        custom_provider("x", table)
    assert complaint in str(raised.value)


def test_config_errors_name_the_file_and_never_leave_a_half_registry(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config.toml: providers.glm: glm is a built-in provider"):
        _load(tmp_path, '[providers.glm]\nbase_url = "http://x/v1"\nmodels = ["m"]\n')
    with pytest.raises(ConfigError, match="a provider name is lower-case"):
        _load(tmp_path, '[providers.Bad]\nbase_url = "http://x/v1"\nmodels = ["m"]\n')
    with pytest.raises(ConfigError, match="one \\[providers.NAME\\] table per provider"):
        _load(tmp_path, 'providers = "acme"\n')
    assert provider_names() == ("glm", "deepseek", "kimi", "minimax", "qwen", "openrouter")


def test_each_load_replaces_the_custom_providers(tmp_path: Path) -> None:
    _load(tmp_path, _TABLE)
    assert "acme" in provider_names()
    _load(tmp_path, "")
    assert "acme" not in provider_names()
    with pytest.raises(ConfigError, match="provider must be one of"):
        _load(tmp_path, 'provider = "acme"\n')


def test_config_set_may_choose_a_provider_the_file_defines(tmp_path: Path) -> None:
    from codexglm.config import set_value

    path = tmp_path / "config.toml"
    path.write_text('# mine\n[providers.acme]\nbase_url = "http://x/v1"\nmodels = ["m"]\n')
    assert set_value(path, "provider", "acme") == "acme"
    text = path.read_text()
    assert text.startswith("# mine") and 'provider = "acme"' in text and "[providers.acme]" in text
    with pytest.raises(ConfigError, match="provider must be one of"):
        set_value(path, "provider", "nobody")


def test_the_documented_keys_are_all_accepted() -> None:
    # Every key the module docstring's example uses is a key it knows.
    example = {"base_url", "key_env", "models", "inline_think_tags", "thinking_toggle", "effort_field", "efforts"}
    assert example <= set(KNOWN_KEYS)
