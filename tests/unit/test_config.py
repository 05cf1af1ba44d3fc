"""The configuration file: `[tool.responses-conformance]` in pyproject.toml or a file of its own; every key an
option's name, the command line overriding it, the key read from a named environment variable, profiles as data;
a malformed file is one line naming the file and the key."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from conformance.judge import profiles
from conformance.plugin import config

PYPROJECT = """
[project]
name = "my-server"

[tool.responses-conformance]
server-url = "http://127.0.0.1:8000/v1"
model = "Qwen/Qwen3-8B"
api_key_env = "MY_KEY"
profile = "myserver"
server-preset = "vllm"
server-args = ["--max-model-len", "8192"]
request-timeout = 30
report-dir = "reports"
baseline = "known-failures.json"
area = ["streaming", "seed"]
keep-server = true

[tool.responses-conformance.profiles.myserver]
unsupported = ["store", "tools"]
summary = "my server"
"""


def test_pyproject_table_is_read_with_paths_relative_to_the_file(tmp_path):
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    got = config.load(tmp_path)
    assert got.path == tmp_path / "pyproject.toml" and got.names_server()
    assert got.values == {
        "server_url": "http://127.0.0.1:8000/v1", "model": "Qwen/Qwen3-8B", "profile": "myserver",
        "server_preset": "vllm", "server_args": ["--max-model-len", "8192"], "request_timeout": 30.0,
        "report_dir": str(tmp_path / "reports"), "baseline": str(tmp_path / "known-failures.json"),
        "area": "streaming,seed", "keep_server": True}
    assert got.api_key_env == "MY_KEY"
    assert got.profiles["myserver"].unsupported == {"store", "tools"}


def test_a_pyproject_without_the_table_configures_nothing(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert config.load(tmp_path).values == {} and config.load(tmp_path / "nowhere").values == {}


def test_a_named_file_has_its_keys_at_the_top_level(tmp_path):
    (tmp_path / "rc.toml").write_text('server-url = "http://h/openai"\nlevel = "MUST"\n')
    got = config.load(tmp_path, "rc.toml")
    assert got.values == {"server_url": "http://h/openai", "level": "MUST"}


def test_the_command_line_overrides_the_file_and_the_key_comes_from_the_named_variable(tmp_path):
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    got = config.load(tmp_path)
    opt = SimpleNamespace(model="from-cli", api_key=None, server_url=None)
    config.apply(opt, got, {"--model"}, environ={"MY_KEY": "sk-from-env"})
    assert opt.model == "from-cli" and opt.server_url == "http://127.0.0.1:8000/v1"
    assert opt.api_key == "sk-from-env" and opt.request_timeout == 30.0
    opt = SimpleNamespace(api_key="sk-cli")
    config.apply(opt, got, {"--api-key"}, environ={})
    assert opt.api_key == "sk-cli"  # --api-key given: the variable need not exist
    with pytest.raises(config.ConfigError, match="api-key-env names MY_KEY, which is not set"):
        config.apply(SimpleNamespace(api_key=None), got, set(), environ={})


@pytest.mark.parametrize(("text", "words"), [
    ('servr-url = "x"', "unknown key `servr-url`; did you mean `server-url`?"),
    ('image = "vllm/vllm-openai"', "did you mean `server-image`?"),
    ('request-timeout = "fast"', "`request-timeout` must be a number, not 'fast'"),
    ("keep-server = 1", "`keep-server` must be true or false"),
    ('server-preset = "vlm"', "`server-preset` must be one of"),
    ("unsupported = [1]", "`unsupported` must be a string or a list of strings"),
    ('api-key = "sk-secret"', "never write the key into a file"),
    ("server-url = [", "not valid TOML"),
    ('[profiles.vllm]\nunsupported = ["store"]', "profile 'vllm' is built in"),
    ('[profiles.x]\nunsupported = ["store"]\nextra = 1', "profile 'x' takes `unsupported`"),
])
def test_a_malformed_file_is_one_line(tmp_path, text, words):
    (tmp_path / "rc.toml").write_text(text + "\n")
    with pytest.raises(config.ConfigError) as err:
        config.load(tmp_path, "rc.toml")
    assert words in str(err.value) and "\n" not in str(err.value) and "rc.toml" in str(err.value)
    assert "sk-secret" not in str(err.value)


def test_a_named_pyproject_without_the_table_says_so(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    with pytest.raises(config.ConfigError, match=r"has no \[tool.responses-conformance\] table"):
        config.load(tmp_path, "pyproject.toml")


def test_a_named_file_must_exist(tmp_path):
    with pytest.raises(config.ConfigError, match=r"--conformance-config missing\.toml: no such file"):
        config.load(tmp_path, "missing.toml")


def test_user_profiles_sit_beside_the_built_in_ones():
    try:
        profiles.define_profiles({"mine": profiles.Profile("mine", frozenset({"tools"}), "mine")})
        assert profiles.declared_unsupported("", "mine,vllm") == {"tools", "store"}
        with pytest.raises(profiles.ProfileError, match="did you mean 'mine'"):
            profiles.declared_unsupported("", "mina")
    finally:
        profiles.define_profiles({})
    with pytest.raises(profiles.ProfileError, match="unknown profile 'mine'"):
        profiles.declared_unsupported("", "mine")


def test_given_options_reads_both_forms():
    assert config.given_options(["--model", "m", "--area=seed", "-q", "x"]) == {"--model", "--area"}
