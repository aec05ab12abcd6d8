"""The runner's pure parts: the catalogue, typed parameters, secret refusal and redaction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hybridkit.errors import InvalidInputError
from hybridkit.run import (
    find_runbook,
    known_secrets,
    list_runbooks,
    load_parameters_file,
    redact,
    resolve_parameters,
)
from hybridkit.run._catalog import ParamSpec, Runbook

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.ZmFrZXNpZ25hdHVyZWZha2U"

BOOK = Runbook(
    name="upload",
    path=Path("upload.ipynb"),
    title="Upload",
    parameters=(
        ParamSpec("bucket", "str", '"demo"', "bucket"),
        ParamSpec("concurrency", "int", "4", "jobs"),
        ParamSpec("verify", "bool", "True", "verify"),
        ParamSpec("ratio", "float", "0.5", "ratio"),
        ParamSpec("include", "list[str]", "[]", "globs"),
    ),
)


def test_values_follow_the_declared_types() -> None:
    typed = resolve_parameters(
        BOOK,
        {
            "bucket": "007",
            "concurrency": "8",
            "verify": "false",
            "ratio": "1e-1",
            "include": "[*.csv, '*.json']",
        },
        env={},
    )
    assert typed == {
        "bucket": "007",  # papermill's -p would make this the number 7
        "concurrency": 8,
        "verify": False,
        "ratio": 0.1,
        "include": ["*.csv", "*.json"],
    }
    assert resolve_parameters(BOOK, {"include": "*.csv,*.txt"}, env={}) == {
        "include": ["*.csv", "*.txt"]
    }


def test_unknown_wrong_and_secret_parameters_are_refused_together() -> None:
    with pytest.raises(InvalidInputError) as info:
        resolve_parameters(
            BOOK,
            {"bukket": "x", "concurrency": "many", "access_token": "sbp_x", "bucket": JWT},
            env={},
        )
    message = str(info.value)
    assert "bukket: unknown parameter for upload; known: bucket (str), concurrency (int)" in message
    assert "concurrency: expected a whole number, got the text 'many'" in message
    assert "access_token: secrets are never runbook parameters" in message
    assert "bucket: the value looks like a key or token" in message


def test_a_value_equal_to_a_configured_secret_is_refused() -> None:
    env = {"SUPABASE_SERVICE_ROLE_KEY": "a-long-service-key"}
    with pytest.raises(InvalidInputError, match="looks like a key or token"):
        resolve_parameters(BOOK, {"bucket": "a-long-service-key"}, env=env)


def test_parameters_file_keeps_scalars_as_text(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("bucket: 007\nverify: no\ninclude: [a, b]\nwhen: 2026-01-01\n")
    raw = load_parameters_file(path)
    assert raw == {"bucket": "007", "verify": "no", "include": ["a", "b"], "when": "2026-01-01"}
    typed = resolve_parameters(BOOK, {k: raw[k] for k in ("bucket", "verify", "include")}, env={})
    assert typed == {"bucket": "007", "verify": False, "include": ["a", "b"]}
    path.write_text("- just\n- a list\n")
    with pytest.raises(InvalidInputError, match="must be a mapping"):
        load_parameters_file(path)


def test_known_secrets_cover_keys_and_the_database_password_in_context() -> None:
    env = {
        "SUPABASE_ANON_KEY": JWT,
        "SUPABASE_DB_URL": "postgresql://postgres:postgres@127.0.0.1:54322/postgres",
    }
    secrets = known_secrets(env)
    assert JWT in secrets and env["SUPABASE_DB_URL"] in secrets
    assert "postgres" not in secrets  # the CLI's well-known local password is also a word
    long_pw = known_secrets({"SUPABASE_DB_URL": "postgresql://u:Very-Long-Passw0rd@h/db"})
    assert "Very-Long-Passw0rd" in long_pw
    short = known_secrets({"SUPABASE_DB_URL": "host=h user=u password=s3cr3t"})
    assert "s3cr3t" in short  # whatever its length, in the key=value form too


def test_redact_walks_the_whole_notebook() -> None:
    nb = {
        "cells": [{"outputs": [{"text": [f"key {JWT}\n", "pw :postgres@host\n"]}]}],
        "metadata": {"papermill": {"parameters": {"x": "sbp_secret_token"}}},
    }
    clean, count = redact(nb, [":postgres@", "sbp_secret_token"])
    text = json.dumps(clean)
    assert count == 3
    assert JWT not in text and ":postgres@" not in text and "sbp_secret_token" not in text


def test_the_committed_runbooks_are_found_by_name() -> None:
    names = [b.name for b in list_runbooks()]
    assert names == [
        "bucket_admin",
        "download",
        "health_check",
        "migration_check",
        "restore_drill",
        "storage_cleanup",
        "storage_inventory",
        "storage_sync",
        "upload",
    ]
    with pytest.raises(InvalidInputError, match=r"no runbook named 'uplaod'.*known runbooks: "):
        find_runbook("uplaod")
    book = find_runbook("upload")
    spec = book.param("bucket")
    assert spec is not None and spec.type == "str" and spec.help
