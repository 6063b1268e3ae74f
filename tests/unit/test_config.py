"""Layered configuration: precedence, origins, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeslm.config import KEYS, env_layer, load_config
from codeslm.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_when_nothing_is_configured(tmp_path: Path) -> None:
    loaded = load_config(cwd=tmp_path, environ={})
    assert loaded.config.model == "qwen2.5-coder-1.5b"
    assert loaded.config.backend == "llama-cpp"
    assert set(loaded.sources.values()) == {"default"}
    assert loaded.files == []


def test_precedence_user_project_env_flags(tmp_path: Path, isolated_home: Path) -> None:
    write(isolated_home / "config.toml",
          'model = "user-model"\nn_ctx = 1024\n[completion]\nmax_tokens = 11\n')
    project = tmp_path / "proj"
    (project / ".git").mkdir(parents=True)
    write(project / "pyproject.toml", '[tool.codeslm]\nmodel = "pyproject-model"\nthreads = 3\n')
    write(project / ".codeslm.toml", 'threads = 5\n[gen]\ntemperature = 0.5\n')
    sub = project / "src" / "pkg"
    sub.mkdir(parents=True)
    env = {"CODESLM_MODEL": "env-model", "CODESLM_COMPLETION_MAX_TOKENS": "22", "OTHER": "x"}
    loaded = load_config({"backend": "fake"}, cwd=sub, environ=env)
    cfg, src = loaded.config, loaded.sources
    assert (cfg.model, src["model"]) == ("env-model", "environment")
    assert cfg.completion.max_tokens == 22 and src["completion.max_tokens"] == "environment"
    assert cfg.n_ctx == 1024 and src["n_ctx"].endswith("config.toml")
    assert cfg.threads == 5 and src["threads"].endswith(".codeslm.toml")
    assert cfg.gen.temperature == 0.5
    assert cfg.backend == "fake" and src["backend"] == "command line"
    assert [p.name for p in loaded.files] == ["config.toml", "pyproject.toml", ".codeslm.toml"]


def test_project_search_stops_at_the_git_root(tmp_path: Path) -> None:
    write(tmp_path / ".codeslm.toml", 'model = "outside"\n')
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    assert load_config(cwd=repo, environ={}).config.model == "qwen2.5-coder-1.5b"


def test_unknown_key_names_the_file_and_suggests(tmp_path: Path) -> None:
    write(tmp_path / ".codeslm.toml", "[completion]\nmax_token = 3\n")
    with pytest.raises(ConfigError) as err:
        load_config(cwd=tmp_path, environ={})
    assert ".codeslm.toml" in str(err.value) and "completion.max_token" in str(err.value)
    assert err.value.hint == "did you mean completion.max_tokens?"


def test_wrong_type_is_a_clear_error(tmp_path: Path) -> None:
    write(tmp_path / ".codeslm.toml", 'n_ctx = "big"\n')
    with pytest.raises(ConfigError, match="n_ctx must be an integer, got 'big'"):
        load_config(cwd=tmp_path, environ={})
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / ".git").mkdir(parents=True)
    with pytest.raises(ConfigError, match="environment variable CODESLM_THREADS: threads must be"):
        load_config(cwd=elsewhere, environ={"CODESLM_THREADS": "many"})


def test_invalid_toml_is_a_one_line_error(tmp_path: Path) -> None:
    write(tmp_path / ".codeslm.toml", "model = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(cwd=tmp_path, environ={})


def test_env_lists_and_double_underscore() -> None:
    layer = env_layer({"CODESLM_URL": "http://a:1, http://b:2", "CODESLM_GIT__TIMEOUT_S": "2.5",
                       "CODESLM_HOME": "/x", "CODESLM_NOT_A_KEY": "1"})
    assert layer == {"url": ["http://a:1", "http://b:2"], "git.timeout_s": 2.5}


def test_every_key_has_a_default() -> None:
    assert "completion.max_tokens" in KEYS and "model" in KEYS
    assert all(value is not None for value in KEYS.values())
