"""Unit tests for module_utils/files.py: real file operations under tmp_path."""

from __future__ import annotations

import grp
import os
import pwd
import stat

import pytest

from ansible_collections.keel.postgres.plugins.module_utils import files as fu

USER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


def entry(dest, **kwargs):
    """A file entry owned by the current user (so the tests need no root)."""
    base = {"dest": str(dest), "content": "a = 1\n", "owner": USER, "group": GROUP, "mode": "0640"}
    base.update(kwargs)
    return base


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_creates_file_then_idempotent(tmp_path):
    dest = tmp_path / "a.conf"
    results = fu.ensure([entry(dest)])[0]
    assert results == [{"dest": str(dest), "state": "file", "changed": True, "differences": ["created"]}]
    assert dest.read_text() == "a = 1\n"
    assert mode_of(dest) == 0o640
    results = fu.ensure([entry(dest)])[0]
    assert results[0]["changed"] is False and results[0]["differences"] == []


@pytest.mark.parametrize(
    "prepare, expected",
    [
        (lambda p: p.write_text("a = 2\n"), ["content"]),
        (lambda p: os.chmod(p, 0o644), ["mode"]),
        (lambda p: (p.write_text("b\n"), os.chmod(p, 0o600)), ["content", "mode"]),
    ],
    ids=["content", "mode", "content-and-mode"],
)
def test_detects_and_fixes_differences(tmp_path, prepare, expected):
    dest = tmp_path / "a.conf"
    fu.ensure([entry(dest)])
    prepare(dest)
    results = fu.ensure([entry(dest)])[0]
    assert results[0]["differences"] == expected
    assert dest.read_text() == "a = 1\n" and mode_of(dest) == 0o640
    assert fu.ensure([entry(dest)])[0][0]["changed"] is False


def test_owner_change_to_current_user(tmp_path, monkeypatch):
    """The file is owned by someone else (as ids() sees it): owner and group are reported and set."""
    dest = tmp_path / "a.conf"
    fu.ensure([entry(dest)])
    real = fu.current_state

    def foreign(path):
        state = real(path)
        state["uid"], state["gid"] = state["uid"] + 1, state["gid"] + 1
        return state

    chowned = []
    monkeypatch.setattr(fu, "current_state", foreign)
    monkeypatch.setattr(fu.os, "chown", lambda path, uid, gid: chowned.append((path, uid, gid)))
    results = fu.ensure([entry(dest)])[0]
    assert results[0]["differences"] == ["owner", "group"]
    assert chowned == [(str(dest), os.getuid(), os.getgid())]


def test_unknown_owner_refused(tmp_path):
    with pytest.raises(fu.FilesError, match="owner 'no-such-user-keel' does not exist"):
        fu.ensure([entry(tmp_path / "a", owner="no-such-user-keel")])


def test_directory_created_with_parents_and_mode(tmp_path):
    dest = tmp_path / "x" / "y"
    results = fu.ensure([entry(dest, state="directory", content=None, mode="0750")])[0]
    assert results[0]["differences"] == ["created"]
    assert dest.is_dir() and mode_of(dest) == 0o750
    os.chmod(dest, 0o755)
    assert fu.ensure([entry(dest, state="directory", content=None, mode="0750")])[0][0]["differences"] == ["mode"]
    assert mode_of(dest) == 0o750


def test_validate_failure_keeps_old_file(tmp_path):
    dest = tmp_path / "a.conf"
    fu.ensure([entry(dest)])
    with pytest.raises(fu.FilesError, match=r"validate command .* failed with rc 1.*left unchanged.*bad"):
        fu.ensure([entry(dest, content="new\n", validate="/bin/sh -c 'echo bad; exit 1' %s")])
    assert dest.read_text() == "a = 1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.conf"]  # no temporary file left


def test_validate_runs_on_the_new_content(tmp_path):
    dest = tmp_path / "a.conf"
    results = fu.ensure([entry(dest, content="port = 5\n", validate="/bin/grep -q 'port = 5' %s")])[0]
    assert results[0]["changed"] and dest.read_text() == "port = 5\n"


def test_check_mode_writes_nothing(tmp_path):
    dest = tmp_path / "a.conf"
    fu.ensure([entry(dest)])
    os.chmod(dest, 0o600)
    new_dir = tmp_path / "new"
    entries = [
        entry(dest, content="changed\n"),
        entry(new_dir, state="directory", content=None, mode="0755"),
        entry(new_dir / "f", content="x\n"),
    ]
    results, diffs = fu.ensure(entries, check_mode=True, want_diff=True)
    assert [r["differences"] for r in results] == [["content", "mode"], ["created"], ["created"]]
    assert dest.read_text() == "a = 1\n" and mode_of(dest) == 0o600
    assert not new_dir.exists()
    assert diffs[0] == {
        "before_header": str(dest),
        "after_header": str(dest),
        "before": "a = 1\n",
        "after": "changed\n",
    }


def test_check_mode_refuses_file_in_missing_directory(tmp_path):
    with pytest.raises(fu.FilesError, match="does not exist"):
        fu.ensure([entry(tmp_path / "missing" / "f")], check_mode=True)


def test_secret_diff_masked(tmp_path):
    dest = tmp_path / "pgpass"
    dest.write_text("old-password\n")
    diffs = fu.ensure([entry(dest, content="new-password\n", secret=True)], want_diff=True)[1]
    assert diffs == [{"before_header": str(dest), "after_header": str(dest), "before": "", "after": fu.SECRET_DIFF}]
    assert "password" not in repr(diffs)


def test_backup_keeps_old_content(tmp_path):
    dest = tmp_path / "a.conf"
    dest.write_text("old\n")
    results = fu.ensure([entry(dest, backup=True)])[0]
    backup = results[0]["backup_file"]
    assert open(backup).read() == "old\n" and dest.read_text() == "a = 1\n"


@pytest.mark.parametrize(
    "override, message",
    [
        ({"mode": None}, "mode is required"),
        ({"mode": 0o640}, "quoted octal string"),
        ({"mode": "rw-r-----"}, "not an octal string"),
        ({"dest": "relative/path"}, "absolute path"),
        ({"content": None}, "needs content"),
        ({"content": "x" * (fu.MAX_CONTENT_BYTES + 1)}, "over the 1 MiB limit"),
        ({"validate": "/bin/true"}, "must contain %s"),
        ({"state": "link"}, "state must be file or directory"),
        ({"src": "x.j2"}, "src is rendered by the action plugin"),
    ],
)
def test_invalid_entries_refused(tmp_path, override, message):
    bad = entry(tmp_path / "a.conf")
    bad.update(override)
    with pytest.raises(fu.FilesError, match=message):
        fu.ensure([bad])
    assert not (tmp_path / "a.conf").exists()


def test_type_mismatch_refused(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(fu.FilesError, match="is a directory, expected a file"):
        fu.ensure([entry(tmp_path / "d")])
    os.symlink(tmp_path / "d", tmp_path / "link")
    with pytest.raises(fu.FilesError, match="symlink or special file"):
        fu.ensure([entry(tmp_path / "link", state="directory", content=None)])


@pytest.mark.parametrize(
    "command, expected",
    [
        ("haproxy -c -q -f %s", ["haproxy", "-c", "-q", "-f", "/tmp/x y"]),
        # %% is a literal % as in ansible.builtin.template's validate (patroni.yml's printf "%%s")
        ('sh -c \'printf "%%s" "$1"\' validate %s', ["sh", "-c", 'printf "%s" "$1"', "validate", "/tmp/x y"]),
    ],
)
def test_validate_fills_in_the_path_like_the_template_module(command, expected):
    from ansible_collections.keel.postgres.plugins.module_utils.files import validate_argv

    assert validate_argv(command, "/tmp/x y") == expected
