"""One redaction for every output path: each DSN form, whatever the password's length."""

from __future__ import annotations

import logging

import pytest

from hybridkit.config import Settings, mask_url
from hybridkit.errors import ConfigError, HybridError
from hybridkit.redact import RedactingFilter, dsn_password, known_secrets, redact, redact_text

PASSWORDS = ["s3cr3t", "pw", "x7", "Very-Long-Passw0rd!", "p@ss/w:rd"]


def _forms(pw: str) -> list[str]:
    from urllib.parse import quote

    return [
        f"postgresql://u:{quote(pw, safe='')}@127.0.0.1:5432/postgres",
        f"host=127.0.0.1 user=u password={pw.replace(' ', '')} dbname=postgres",
        f"host=127.0.0.1 user=u password='{pw}' dbname=postgres",
        f"postgres://u:{quote(pw, safe='')}@db.example.com/postgres?sslmode=require",
    ]


@pytest.mark.parametrize("pw", PASSWORDS)
def test_every_dsn_form_is_masked_in_every_path(pw: str) -> None:
    from urllib.parse import quote

    for dsn in _forms(pw):
        assert dsn_password(dsn) == pw, dsn
        secrets = known_secrets({"SUPABASE_DB_URL": dsn})
        hidden = [pw, quote(pw, safe="")]
        # the shape alone (no known secrets) masks URL and key=value passwords
        for text in (mask_url(dsn), str(HybridError(f"could not connect to {dsn}"))):
            for h in hidden:
                assert f":{h}@" not in text and f"password={h}" not in text, text
        # known values: the bare password too, whatever its length
        out, n = redact_text(
            f"failed: {dsn}; password was {pw} (and {quote(pw, safe='')})", secrets
        )
        assert n >= 1
        for h in hidden:
            assert h not in out.replace("[REDACTED]", ""), out
        settings = Settings.load(env={}, env_file=None, db_url=dsn)
        assert pw not in repr(settings), repr(settings)
        tree, _ = redact({"note": f"recorded ({dsn})", "cells": [f"pw={pw}"]}, secrets)
        assert pw not in str(tree).replace("[REDACTED]", "")


def test_a_malformed_url_never_shows_its_password() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.load(env={}, env_file=None, db_url="mysql://u:s3cr3t@h/db")
    assert "s3cr3t" not in str(caught.value)
    assert "s3cr3t" not in mask_url("postgresql://u:s3cr3t@[bad/db")


def test_short_passwords_do_not_eat_other_words() -> None:
    out, _ = redact_text("pwd is not pw; upgrade", ["pw"])
    assert out == "pwd is not [REDACTED]; upgrade"


def test_the_public_local_password_stays_a_word() -> None:
    secrets = known_secrets({"SUPABASE_DB_URL": "postgresql://postgres:postgres@h/postgres"})
    assert "postgres" not in secrets
    out, _ = redact_text("postgres is up at postgresql://postgres:postgres@h/postgres", secrets)
    assert out.startswith("postgres is up") and ":postgres@" not in out


def test_jwts_and_tokens_are_masked() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.c2lnbmF0dXJlc2ln"
    out, n = redact_text(
        f"key {jwt} token sbp_abc123", known_secrets({"SUPABASE_ACCESS_TOKEN": "sbp_abc123"})
    )
    assert jwt not in out and "sbp_abc123" not in out and n == 2


def test_logging_filter(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("hybridkit.test_redact")
    handler = caplog.handler
    handler.addFilter(RedactingFilter(["s3cr3t"]))
    try:
        logger.warning("connect %s", "host=h password=s3cr3t")
        logger.warning("plain s3cr3t")
    finally:
        handler.filters.clear()
    assert "s3cr3t" not in caplog.text
