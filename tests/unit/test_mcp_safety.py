"""The MCP server's safety rules as pure logic: tokens, root confinement, redaction, bounds."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest

from hybridkit.errors import ConfigError, NotFoundError
from hybridkit.mcp import Confirmations, Redactor, Root, ToolRefusal, require_mcp
from hybridkit.mcp._boundary import REDACTED, Boundary, hint_for, jsonable
from hybridkit.mcp._runbooks import judge
from hybridkit.run import ParamSpec, Runbook


def _jwt(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJlLXZhbHVl"


# ---------------------------------------------------------------------- confirmations


def test_a_token_fits_only_its_plan_once_and_before_it_expires() -> None:
    now = [0.0]
    book = Confirmations(ttl=60, clock=lambda: now[0])
    args, plan = {"name": "b"}, {"objects": 2}
    token = book.issue("delete_bucket", args, plan)
    assert not book.redeem(token, "delete_bucket", args, {"objects": 3})  # plan changed
    token = book.issue("delete_bucket", args, plan)
    assert not book.redeem(token, "empty_bucket", args, plan)  # another tool
    token = book.issue("delete_bucket", args, plan)
    assert not book.redeem(token, "delete_bucket", {"name": "c"}, plan)  # other arguments
    token = book.issue("delete_bucket", args, plan)
    assert book.redeem(token, "delete_bucket", args, plan)
    assert not book.redeem(token, "delete_bucket", args, plan)  # single use
    token = book.issue("delete_bucket", args, plan)
    now[0] = 61
    assert not book.redeem(token, "delete_bucket", args, plan)  # expired
    assert not book.redeem("confirm-guessed", "delete_bucket", args, plan)


# ---------------------------------------------------------------------- root


def test_root_refuses_dotdot_absolute_and_symlink_escapes(tmp_path: Path) -> None:
    root_dir = tmp_path / "root"
    (root_dir / "sub").mkdir(parents=True)
    (root_dir / "sub" / "f.txt").write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o.txt").write_text("o")
    (root_dir / "out").symlink_to(outside)
    (root_dir / "o-link.txt").symlink_to(outside / "o.txt")
    root = Root(root_dir)

    assert root.resolve("sub/f.txt") == root_dir.resolve() / "sub" / "f.txt"
    assert root.resolve(str(root_dir / "sub" / "f.txt")).name == "f.txt"
    assert root.resolve("sub/../sub/f.txt").name == "f.txt"
    for given in ("../outside/o.txt", str(outside / "o.txt"), "out/o.txt", "o-link.txt"):
        with pytest.raises(ToolRefusal, match="outside the server's root"):
            root.resolve(given)
    for given in ("../x.txt", "out/new.txt", "o-link.txt", "/etc/x"):
        with pytest.raises(ToolRefusal, match="outside the server's root"):
            root.resolve(given, must_exist=False, for_writing=True)
    with pytest.raises(ToolRefusal, match="symbolic link leads out"):
        root.resolve("out/o.txt")
    with pytest.raises(ToolRefusal, match="no such file"):
        root.resolve("sub/missing.txt")
    new = root.resolve("sub/deeper/new.txt", must_exist=False, for_writing=True)
    assert new == root_dir.resolve() / "sub" / "deeper" / "new.txt"


# ---------------------------------------------------------------------- redaction, bounds


def test_redactor_hides_known_secrets_api_keys_tokens_and_url_passwords() -> None:
    service_key = _jwt({"role": "service_role", "iss": "supabase"})
    signed = _jwt({"url": "bucket/a.txt", "iat": 1})
    redactor = Redactor(["a-jwt-secret-of-some-length", "short"])
    text = (
        f"key {service_key} secret a-jwt-secret-of-some-length token sbp_0123456789abcdef0123 "
        f"db postgresql://postgres:hunter2pass@db.example.com:5432/postgres short "
        f"url http://x/storage/v1/object/sign/bucket/a.txt?token={signed}"
    )
    out = redactor.text(text)
    for secret in (service_key, "a-jwt-secret-of-some-length", "sbp_0123456789", "hunter2pass"):
        assert secret not in out
    # hybridkit.redact's rules, as on every output path: a URL password is masked in place.
    assert out.count(REDACTED) == 3 and "postgresql://postgres:********@db.example.com" in out
    assert signed in out, "a signed URL's token is what the tool is for"
    assert "short" in out, "short strings are not treated as secrets"
    assert redactor.value({"a": [text], "b": 1}) == {"a": [out], "b": 1}


def test_jsonable_bounds_long_text_and_lists() -> None:
    data = jsonable(
        {"s": "x" * 50, "l": list(range(10)), "p": Path("/a")}, max_text=10, max_items=3
    )
    assert data["s"].startswith("x" * 10) and "truncated: 50 characters" in data["s"]
    assert data["l"][:3] == [0, 1, 2] and "truncated: 7 more of 10" in data["l"][3]
    assert data["p"] == "/a"


def test_the_boundary_says_class_message_and_hint_and_redacts() -> None:
    boundary = Boundary(Redactor(["the-service-role-key-123"]))
    text = boundary.describe(NotFoundError("object a/b not found (the-service-role-key-123)"))
    assert text.startswith("NotFoundError: object a/b not found ([REDACTED])")
    assert "\nhint: " in text and "list_objects" in text
    assert "internal error (KeyError)" in boundary.describe(KeyError("k"))
    assert hint_for(ToolRefusal("no", hint="do this")) == "do this"


def test_the_missing_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mcp.server.mcpserver", None)
    with pytest.raises(ConfigError, match=r"pip install 'hybridkit\[mcp\]'"):
        require_mcp()


# ---------------------------------------------------------------------- runbook effects


def _book(name: str, *params: tuple[str, str, str]) -> Runbook:
    specs = tuple(ParamSpec(n, t, d, "") for n, t, d in params)
    return Runbook(name=name, path=Path(f"{name}.ipynb"), title=name, parameters=specs)


def test_runbook_effects_follow_their_dry_run_defaults() -> None:
    admin = _book("bucket_admin", ("action", "str", '"list"'), ("dry_run", "bool", "True"))
    assert not judge(admin, {}).writes
    assert not judge(admin, {"action": "delete"}).writes  # still a dry run
    delete = judge(admin, {"action": "delete", "dry_run": False, "bucket": "b"})
    assert delete.writes and delete.destructive
    create = judge(admin, {"action": "create", "dry_run": False})
    assert create.writes and not create.destructive
    assert not judge(_book("health_check"), {}).writes
    migrate = _book("migration_check", ("apply", "bool", "False"), ("dry_run", "bool", "True"))
    assert not judge(migrate, {"apply": True}).writes
    assert judge(migrate, {"apply": True, "dry_run": False}).destructive
    upload = _book("upload", ("upsert", "bool", "False"))
    assert judge(upload, {}).writes and not judge(upload, {}).destructive
    assert judge(upload, {"upsert": True}).destructive
    own = _book("my_job")
    assert judge(own, {}).writes and judge(own, {}).destructive
    own_dry = _book("my_job", ("dry_run", "bool", "True"))
    assert not judge(own_dry, {}).writes
