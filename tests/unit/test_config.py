"""Settings: precedence (keyword > environment > .env), masking, and clear errors."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pytest

from hybridkit.config import ENV_VARS, Secret, Settings, mask_url
from hybridkit.errors import ConfigError, HybridError

SERVICE_KEY = "service-key-c0ffee-should-never-show"
ANON_KEY = "anon-key-f00d-should-never-show"
TOKEN = "sbp_access-token-beef-should-never-show"
DB_PASSWORD = "pg-pa55word-should-never-show"
DB_URL = f"postgresql://postgres:{DB_PASSWORD}@db.example.internal:5432/postgres"


def _env_file(tmp_path: Path, **values: str) -> Path:
    path = tmp_path / ".env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def _load(**kwargs: object) -> Settings:
    """Load with an empty environment and no .env unless the test passes them."""
    kwargs.setdefault("env", {})
    kwargs.setdefault("env_file", None)
    return Settings.load(**kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# precedence


def test_keyword_beats_environment_beats_env_file(tmp_path: Path) -> None:
    env_file = _env_file(
        tmp_path,
        SUPABASE_URL="http://from-file:1",
        SUPABASE_MAX_RETRIES="7",
        SUPABASE_CHUNK_SIZE="1024",
    )
    env = {"SUPABASE_URL": "http://from-env:2", "SUPABASE_MAX_RETRIES": "5"}

    s = Settings.load(env=env, env_file=env_file, supabase_url="http://from-kwarg:3")
    assert s.supabase_url == "http://from-kwarg:3"  # keyword wins
    assert s.max_retries == 5  # environment beats the file
    assert s.chunk_size == 1024  # the file fills what nothing else set
    assert s.sources["supabase_url"] == "argument"
    assert "SUPABASE_MAX_RETRIES" in s.sources["max_retries"]
    assert "environment" in s.sources["max_retries"]
    assert str(env_file) in s.sources["chunk_size"]


def test_none_keyword_means_not_given(tmp_path: Path) -> None:
    s = Settings.load(env={"SUPABASE_URL": "http://from-env:2"}, env_file=None, supabase_url=None)
    assert s.supabase_url == "http://from-env:2"


def test_empty_environment_variable_is_treated_as_unset(tmp_path: Path) -> None:
    env_file = _env_file(tmp_path, SUPABASE_URL="http://from-file:1")
    s = Settings.load(env={"SUPABASE_URL": ""}, env_file=env_file)
    assert s.supabase_url == "http://from-file:1"


def test_defaults_when_nothing_is_set() -> None:
    s = _load()
    assert s.supabase_url is None
    assert s.service_role_key is None
    assert s.anon_key is None
    assert s.db_url is None
    assert s.max_retries == 3
    assert s.chunk_size == 6 * 1024 * 1024
    assert s.standard_upload_threshold == 6 * 1024 * 1024
    assert s.upload_timeout == 300.0
    assert s.management_url == "https://api.supabase.com"
    assert s.key_role == "none"
    assert s.api_key is None


def test_reads_os_environ_at_load_time_not_import_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPABASE_URL", "http://late-binding:54321")
    monkeypatch.setenv("SUPABASE_ANON_KEY", ANON_KEY)
    s = Settings.load(env_file=None)
    assert s.supabase_url == "http://late-binding:54321"
    assert s.anon_key is not None
    assert s.anon_key.get_secret_value() == ANON_KEY


def test_missing_env_file_is_fine(tmp_path: Path) -> None:
    s = Settings.load(env={}, env_file=tmp_path / "does-not-exist.env")
    assert s.supabase_url is None


def test_default_env_file_is_dot_env_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _env_file(tmp_path, SUPABASE_URL="http://from-dotenv:9")
    monkeypatch.chdir(tmp_path)
    assert Settings.load(env={}).supabase_url == "http://from-dotenv:9"
    assert Settings.load(env={}, env_file=None).supabase_url is None


def test_every_field_has_its_environment_variable() -> None:
    env = {
        "SUPABASE_URL": "https://abcdefghijklmnop.supabase.co/",
        "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY,
        "SUPABASE_ANON_KEY": ANON_KEY,
        "SUPABASE_DB_URL": DB_URL,
        "SUPABASE_READ_ONLY_DB_URL": DB_URL,
        "SUPABASE_ACCESS_TOKEN": TOKEN,
        "SUPABASE_PROJECT_REF": "abcdefghijklmnop",
        "SUPABASE_MAX_RETRIES": " 4 ",
        "SUPABASE_UPLOAD_TIMEOUT": "12.5",
        "SUPABASE_CHUNK_SIZE": "2048",
        "SUPABASE_PROGRESS_INTERVAL": "0.25",
        "SUPABASE_STANDARD_UPLOAD_THRESHOLD": "4096",
        "SUPABASE_MANAGEMENT_URL": "http://127.0.0.1:54321",
        "SUPABASE_IDLE_TIMEOUT": "20",
        "SUPABASE_CONNECT_TIMEOUT": "5",
        "SUPABASE_JOB_DEADLINE": "400",
        "SUPABASE_UNREACHABLE_AFTER": "600",
        "SUPABASE_BREAKER_THRESHOLD": "8",
        "SUPABASE_BREAKER_COOLDOWN": "15",
    }
    assert set(env) == set(ENV_VARS.values())
    s = _load(env=env)
    assert s.supabase_url == "https://abcdefghijklmnop.supabase.co"  # trailing slash dropped
    assert s.service_role_key == Secret(SERVICE_KEY)
    assert s.anon_key == Secret(ANON_KEY)
    assert s.db_url is not None and s.db_url.get_secret_value() == DB_URL
    assert s.access_token == Secret(TOKEN)
    assert s.project_ref == "abcdefghijklmnop"
    assert s.max_retries == 4
    assert s.upload_timeout == 12.5
    assert s.chunk_size == 2048
    assert s.progress_interval == 0.25
    assert s.standard_upload_threshold == 4096
    assert s.management_url == "http://127.0.0.1:54321"
    assert (s.idle_timeout, s.connect_timeout, s.job_deadline) == (20.0, 5.0, 400.0)
    assert (s.unreachable_after, s.breaker_threshold, s.breaker_cooldown) == (600.0, 8, 15.0)
    assert s.key_role == "service_role"
    assert s.api_key == Secret(SERVICE_KEY)


def test_anon_key_alone() -> None:
    s = _load(anon_key=ANON_KEY)
    assert s.key_role == "anon"
    assert s.api_key == Secret(ANON_KEY)


def test_settings_are_frozen() -> None:
    s = _load(supabase_url="http://127.0.0.1:54321")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.supabase_url = "http://elsewhere"  # type: ignore[misc]


# ---------------------------------------------------------------------------
# masking


def _all_secrets_settings() -> Settings:
    return _load(
        supabase_url="http://127.0.0.1:54321",
        service_role_key=SERVICE_KEY,
        anon_key=ANON_KEY,
        access_token=TOKEN,
        db_url=DB_URL,
    )


@pytest.mark.parametrize("render", [repr, str, lambda s: f"{s}", lambda s: f"{s!r}"])
def test_settings_never_show_secrets(render: object) -> None:
    text = render(_all_secrets_settings())  # type: ignore[operator]
    for secret in (SERVICE_KEY, ANON_KEY, TOKEN, DB_PASSWORD):
        assert secret not in text
    assert "********" in text
    assert "http://127.0.0.1:54321" in text  # the URL itself stays readable
    assert "db.example.internal" in text  # so does the database host


def test_sources_and_fields_never_show_secrets() -> None:
    s = _all_secrets_settings()
    shown = repr(dict(s.sources)) + "".join(
        repr(getattr(s, f.name)) + str(getattr(s, f.name)) for f in dataclasses.fields(s)
    )
    for secret in (SERVICE_KEY, ANON_KEY, TOKEN, DB_PASSWORD):
        assert secret not in shown


def test_secret_masks_itself() -> None:
    secret = Secret("hunter2")
    assert repr(secret) == "Secret('********')"
    assert str(secret) == "********"
    assert f"{secret}" == "********"
    assert "hunter2" not in repr([secret, {"k": secret}])
    assert secret.get_secret_value() == "hunter2"
    assert secret == Secret("hunter2")
    assert secret != Secret("other")
    assert secret != "hunter2"
    assert bool(secret) is True
    assert bool(Secret("")) is False
    assert hash(secret) == hash(Secret("hunter2"))


def test_secret_survives_pickling() -> None:
    s = _all_secrets_settings()
    assert s.service_role_key is not None and s.db_url is not None
    key = pickle.loads(pickle.dumps(s.service_role_key))
    assert key.get_secret_value() == SERVICE_KEY
    db = pickle.loads(pickle.dumps(s.db_url))
    assert db.get_secret_value() == DB_URL
    assert DB_PASSWORD not in repr(db)


def test_db_url_shows_host_but_not_password() -> None:
    s = _all_secrets_settings()
    assert s.db_url is not None
    assert str(s.db_url) == "postgresql://postgres:********@db.example.internal:5432/postgres"
    assert DB_PASSWORD not in repr(s.db_url)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            "postgresql://postgres:pw@127.0.0.1:54322/postgres",
            "postgresql://postgres:********@127.0.0.1:54322/postgres",
        ),
        (
            "postgres://u:p%40ss@host/db?sslmode=require",
            "postgres://u:********@host/db?sslmode=require",
        ),
        ("postgresql://postgres@127.0.0.1/postgres", "postgresql://postgres@127.0.0.1/postgres"),
        ("http://127.0.0.1:54321", "http://127.0.0.1:54321"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


# ---------------------------------------------------------------------------
# errors name the variable


@pytest.mark.parametrize("bad", ["not a url", "ftp://host", "127.0.0.1:54321", "https://"])
def test_bad_url_names_the_variable(bad: str) -> None:
    with pytest.raises(ConfigError, match="SUPABASE_URL"):
        _load(env={"SUPABASE_URL": bad})


def test_bad_management_url_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="SUPABASE_MANAGEMENT_URL"):
        _load(env={"SUPABASE_MANAGEMENT_URL": "nope"})


def test_bad_db_url_names_the_variable_without_leaking_the_password() -> None:
    with pytest.raises(ConfigError, match="SUPABASE_DB_URL") as excinfo:
        _load(env={"SUPABASE_DB_URL": f"mysql://root:{DB_PASSWORD}@host/db"})
    assert DB_PASSWORD not in str(excinfo.value)
    assert DB_PASSWORD not in repr(excinfo.value)


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("SUPABASE_MAX_RETRIES", "three"),
        ("SUPABASE_MAX_RETRIES", "-1"),
        ("SUPABASE_MAX_RETRIES", "2.5"),
        ("SUPABASE_CHUNK_SIZE", "0"),
        ("SUPABASE_CHUNK_SIZE", "6MB"),
        ("SUPABASE_STANDARD_UPLOAD_THRESHOLD", "-5"),
        ("SUPABASE_UPLOAD_TIMEOUT", "soon"),
        ("SUPABASE_UPLOAD_TIMEOUT", "0"),
        ("SUPABASE_PROGRESS_INTERVAL", "-0.5"),
    ],
)
def test_bad_number_names_the_variable(var: str, value: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        _load(env={var: value})
    message = str(excinfo.value)
    assert var in message
    assert value.strip() in message or value.strip().lstrip("-") in message


def test_bad_keyword_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="SUPABASE_MAX_RETRIES"):
        _load(max_retries="lots")


def test_zero_retries_is_allowed() -> None:
    assert _load(env={"SUPABASE_MAX_RETRIES": "0"}).max_retries == 0


def test_bad_project_ref_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="SUPABASE_PROJECT_REF"):
        _load(env={"SUPABASE_PROJECT_REF": "Not A Ref!"})


def test_unknown_keyword_is_named() -> None:
    with pytest.raises(ConfigError, match="supabase_key") as excinfo:
        _load(supabase_key="x")
    assert "service_role_key" in str(excinfo.value)  # the known names are listed


def test_sources_is_not_a_keyword() -> None:
    with pytest.raises(ConfigError, match="sources"):
        _load(sources={"x": "y"})


def test_config_error_is_a_hybrid_error() -> None:
    with pytest.raises(HybridError):
        _load(env={"SUPABASE_URL": "nope"})


def test_bad_value_in_env_file_names_the_variable(tmp_path: Path) -> None:
    env_file = _env_file(tmp_path, SUPABASE_CHUNK_SIZE="big")
    with pytest.raises(ConfigError, match="SUPABASE_CHUNK_SIZE"):
        Settings.load(env={}, env_file=env_file)


def test_require_names_every_missing_variable() -> None:
    s = _load(anon_key=ANON_KEY)
    s.require("anon_key")
    with pytest.raises(ConfigError) as excinfo:
        s.require("supabase_url", "anon_key", "db_url")
    message = str(excinfo.value)
    assert "SUPABASE_URL" in message
    assert "SUPABASE_DB_URL" in message
    assert "SUPABASE_ANON_KEY" not in message
