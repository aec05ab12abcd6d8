"""``hybridkit storage`` end to end against the local stack."""

from __future__ import annotations

from pathlib import Path

import pytest
from managerkit import md5_file, write_random

from hybridkit.cli import main
from hybridkit.cli.storage import Remote, parse_remote
from hybridkit.errors import InvalidInputError


@pytest.fixture
def env(stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("SUPABASE_URL", stack.url)
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", stack.service_role_key)
    monkeypatch.delenv("SUPABASE_ANON_KEY", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def test_parse_remote() -> None:
    assert parse_remote("ss:///b/a/c.txt") == Remote("b", "a/c.txt")
    assert parse_remote("ss://prod/b") == Remote("b", "", "prod")
    assert parse_remote("ss://prod/b/k/e y.txt") == Remote("b", "k/e y.txt", "prod")
    with pytest.raises(InvalidInputError):
        parse_remote("ss://b")  # the authority names a profile: a bucket goes after it
    assert parse_remote("b/a.txt") is None


def test_storage_commands(env: Path, unique_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    b = unique_name
    assert (
        main(["storage", "buckets", "create", b, "--allowed-mime-types", "text/*,image/png"]) == 0
    )
    try:
        assert main(["storage", "buckets", "list"]) == 0
        assert f"{b}\tprivate\t-\ttext/*,image/png" in capsys.readouterr().out

        tree = env / "tree"
        write_random(tree / "a.txt", 100)
        write_random(tree / "sub" / "b.txt", 2000)
        write_random(tree / "sub" / "c.png", 3000)
        assert main(["storage", "cp", "-r", "-j", "2", str(tree), f"ss:///{b}/site"]) == 0
        assert "3 transferred, 0 skipped, 0 failed" in capsys.readouterr().err
        assert main(["storage", "cp", "-r", str(tree), f"ss:///{b}/site"]) == 0
        assert "0 transferred, 3 skipped" in capsys.readouterr().err

        assert main(["storage", "ls", f"ss:///{b}/site"]) == 0
        assert capsys.readouterr().out.split() == ["sub/", "a.txt"]
        assert main(["storage", "ls", "-r", f"ss:///{b}"]) == 0
        assert sorted(capsys.readouterr().out.split()) == [
            "site/a.txt",
            "site/sub/b.txt",
            "site/sub/c.png",
        ]

        single = env / "one.txt"
        single.write_text("one")
        assert main(["storage", "cp", str(single), f"ss:///{b}/x/"]) == 0
        assert main(["storage", "cp", f"ss:///{b}/x/one.txt", str(env / "back.txt")]) == 0
        assert (env / "back.txt").read_text() == "one"
        assert main(["storage", "cp", "-r", f"ss:///{b}/site/sub", str(env / "down")]) == 0
        assert md5_file(env / "down" / "c.png") == md5_file(tree / "sub" / "c.png")

        assert main(["storage", "mv", f"ss:///{b}/x/one.txt", f"ss:///{b}/y/one.txt"]) == 0
        assert main(["storage", "cp", "-r", f"ss:///{b}/site/", f"ss:///{b}/copy/"]) == 0
        capsys.readouterr()
        assert main(["storage", "ls", "-r", f"ss:///{b}/copy/"]) == 0
        assert len(capsys.readouterr().out.split()) == 3

        # Failures give a non-zero status and say why.
        bad = env / "bad.bin"
        bad.write_bytes(b"\0")
        assert main(["storage", "cp", str(bad), f"ss:///{b}/bad.bin"]) == 1
        assert "mime type" in capsys.readouterr().err
        assert main(["storage", "rm", f"ss:///{b}/nope.txt"]) == 1
        # bad input exits 2 and says what is wrong; nothing is sent
        assert main(["storage", "cp", str(single), "ss:///../one.txt"]) == 2
        assert "invalid bucket name '..'" in capsys.readouterr().err
        assert main(["storage", "cp", str(env / "nothere.txt"), f"ss:///{b}/n.txt"]) == 2
        err = capsys.readouterr().err
        assert "nothere.txt: not a file (nothing at that path" in err
        assert "hint: give the path of an existing file, or of a folder with -r" in err
        # rm -r lists first: a dry run changes nothing, a script must say --yes
        assert main(["storage", "rm", "-r", "--dry-run", f"ss:///{b}/copy"]) == 0
        out, err = capsys.readouterr()
        assert len(out.splitlines()) == 3 and out.startswith(f"would remove ss:///{b}/copy/")
        assert "3 object(s) would be removed; nothing was changed" in err
        assert main(["storage", "rm", "-r", f"ss:///{b}/copy"]) == 2  # no --yes, no terminal
        assert "without --yes" in capsys.readouterr().err
        assert main(["storage", "ls", "-r", f"ss:///{b}/copy/"]) == 0
        assert len(capsys.readouterr().out.split()) == 3
        assert main(["storage", "rm", "-r", "--yes", f"ss:///{b}/copy"]) == 0
        assert "removed 3 object(s)" in capsys.readouterr().err
        assert main(["storage", "buckets", "delete", b]) == 1  # no --yes, no terminal
    finally:
        assert main(["storage", "buckets", "delete", b, "--force", "--yes"]) == 0
    assert main(["storage", "ls", f"ss:///{b}"]) == 0  # a missing bucket lists nothing
