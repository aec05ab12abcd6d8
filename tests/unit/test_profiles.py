"""Profiles: HYBRIDKIT_PROFILE_<NAME>_* and the profiles file (keys by reference only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybridkit.cli import main
from hybridkit.config import Settings, profiles, settings_for_profile
from hybridkit.errors import ConfigError

KEY = "eyJsecret-service-role-key"
DB = "postgresql://postgres:dbpassword@db.example.com:5432/postgres"


def test_profiles_from_the_environment() -> None:
    env = {
        "HYBRIDKIT_PROFILE_PROD_URL": "https://abc.supabase.co/",
        "HYBRIDKIT_PROFILE_PROD_SERVICE_ROLE_KEY": KEY,
        "HYBRIDKIT_PROFILE_PROD_DB_URL": DB,
        "HYBRIDKIT_PROFILE_STAGING_EU_URL": "https://def.supabase.co",
        "SUPABASE_URL": "https://default.supabase.co",
    }
    found = profiles(env=env, file=None)
    assert list(found) == ["prod", "staging_eu"]
    prod = found["prod"]
    assert prod.url == "https://abc.supabase.co"
    assert prod.service_role_key is not None and prod.service_role_key.get_secret_value() == KEY
    assert prod.db_url is not None and prod.db_url.get_secret_value() == DB
    assert KEY not in repr(prod) and "dbpassword" not in repr(prod)
    assert found["staging_eu"].service_role_key is None


def test_settings_for_profile_takes_nothing_of_the_default_project() -> None:
    env = {
        "HYBRIDKIT_PROFILE_PROD_URL": "https://abc.supabase.co",
        "HYBRIDKIT_PROFILE_PROD_SERVICE_ROLE_KEY": KEY,
        "SUPABASE_URL": "https://default.supabase.co",
        "SUPABASE_ANON_KEY": "default-anon",
        "SUPABASE_DB_URL": "postgresql://postgres:other@default:5432/postgres",
        "SUPABASE_MAX_RETRIES": "7",
    }
    settings = settings_for_profile("prod", env=env, file=None)
    assert settings.supabase_url == "https://abc.supabase.co"
    assert settings.anon_key is None and settings.db_url is None
    assert settings.max_retries == 7  # tuning is shared
    assert Settings.for_profile("prod", env=env).supabase_url == settings.supabase_url
    with pytest.raises(ConfigError, match="no profile 'nope' \\(known: prod\\)"):
        settings_for_profile("nope", env=env, file=None)
    with pytest.raises(ConfigError, match="needs both a URL and a service role key"):
        settings_for_profile("x", env={"HYBRIDKIT_PROFILE_X_URL": "https://x.co"}, file=None)


def test_profiles_file_references_keys_by_variable(tmp_path: Path) -> None:
    file = tmp_path / "profiles.toml"
    file.write_text(
        '[profiles.backup]\nurl = "https://bak.supabase.co"\n'
        'service_role_key_env = "BACKUP_KEY"\ndb_url_env = "BACKUP_DB"\n'
    )
    env = {"BACKUP_KEY": KEY, "BACKUP_DB": DB, "HYBRIDKIT_PROFILES": str(file)}
    found = profiles(env=env)
    assert found["backup"].source == str(file)
    assert found["backup"].service_role_key is not None
    assert found["backup"].service_role_key.get_secret_value() == KEY
    # The environment wins field by field.
    env["HYBRIDKIT_PROFILE_BACKUP_URL"] = "https://other.supabase.co"
    assert profiles(env=env)["backup"].url == "https://other.supabase.co"
    with pytest.raises(ConfigError, match=r"BACKUP_KEY.*not set"):
        profiles(env={"HYBRIDKIT_PROFILES": str(file)})


def test_an_inline_key_is_refused_without_showing_it(tmp_path: Path) -> None:
    file = tmp_path / "profiles.toml"
    file.write_text(f'[profiles.prod]\nurl = "https://a.supabase.co"\nservice_role_key = "{KEY}"\n')
    with pytest.raises(ConfigError) as caught:
        profiles(env={}, file=file)
    message = str(caught.value)
    assert "inline" in message and "service_role_key_env" in message
    assert KEY not in message
    file.write_text('[profiles.prod]\nuri = "https://a.supabase.co"\n')
    with pytest.raises(ConfigError, match="unknown key"):
        profiles(env={}, file=file)
    file.write_text('[profiles."Bad Name"]\nurl = "https://a.supabase.co"\n')
    with pytest.raises(ConfigError, match="profile name"):
        profiles(env={}, file=file)


def test_profiles_command_masks_keys(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HYBRIDKIT_PROFILE_PROD_URL", "https://abc.supabase.co")
    monkeypatch.setenv("HYBRIDKIT_PROFILE_PROD_SERVICE_ROLE_KEY", KEY)
    monkeypatch.setenv("HYBRIDKIT_PROFILE_PROD_DB_URL", DB)
    assert main(["profiles"]) == 0
    out = capsys.readouterr().out
    assert "prod" in out and "https://abc.supabase.co" in out and "local" in out
    assert "********" in out and "db.example.com" in out
    assert KEY not in out and "dbpassword" not in out
