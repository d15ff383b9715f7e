"""Run the files module's main() and check what it returns: contents masked, diffs, check mode."""

from __future__ import annotations

import grp
import json
import os
import pwd

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.keel.postgres.plugins.modules import files as module

USER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


def run(capsys, files, check_mode=False, diff=False):
    args = {"files": files, "_ansible_check_mode": check_mode, "_ansible_diff": diff}
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        module.main()
    return exit_info.value.code, json.loads(capsys.readouterr().out)


def spec(dest, content, **kwargs):
    return dict(dest=str(dest), content=content, owner=USER, group=GROUP, mode="0644", **kwargs)


def test_contents_never_in_invocation_and_secret_masked_everywhere(tmp_path, capsys):
    files = [
        spec(tmp_path / "plain.conf", "listen = 1\n"),
        spec(tmp_path / "pgpass", "s3cret-value\n", secret=True),
    ]
    code, result = run(capsys, files, diff=True)
    assert code == 0 and result["changed"] is True
    assert result["changed_files"] == [str(tmp_path / "plain.conf"), str(tmp_path / "pgpass")]
    invoked = result["invocation"]["module_args"]["files"]
    assert [f["content"] for f in invoked] == [module.NO_LOG_MARK] * 2
    assert "s3cret-value" not in json.dumps(result)
    # a plain file's diff shows its content (the no_log masking would otherwise blank it)
    assert result["diff"][0]["after"] == "listen = 1\n"
    assert result["diff"][1]["after"] == "<secret content changed>\n"


def test_content_not_logged_on_the_host(tmp_path, capsys, monkeypatch):
    logged = []
    monkeypatch.setattr(module.AnsibleModule, "log", lambda self, msg, log_args=None: logged.append(msg))
    run(capsys, [spec(tmp_path / "a", "line one\nline two\n"), spec(tmp_path / "b", "single-line-value")])
    assert "line one" not in repr(logged) and "single-line-value" not in repr(logged)


def test_check_mode_and_second_run(tmp_path, capsys):
    dest = tmp_path / "a.conf"
    code, result = run(capsys, [spec(dest, "x\n")], check_mode=True)
    assert code == 0 and result["changed"] is True and not dest.exists()
    assert result["results"][0]["differences"] == ["created"]
    run(capsys, [spec(dest, "x\n")])
    code, result = run(capsys, [spec(dest, "x\n")])
    assert result["changed"] is False and result["changed_files"] == [] and "diff" not in result


def test_failure_is_reported_with_masked_invocation(tmp_path, capsys):
    code, result = run(capsys, [spec(tmp_path / "missing" / "a", "hidden-text\n")])
    assert code == 1 and result["failed"] is True
    assert "directory %s does not exist" % (tmp_path / "missing") in result["msg"]
    assert "hidden-text" not in json.dumps(result)


def test_failure_reports_the_entries_done_before_it(tmp_path, capsys):
    files = [spec(tmp_path / "a", "first\n"), spec(tmp_path / "b", "second\n", validate="/bin/false %s")]
    code, result = run(capsys, files)
    assert code == 1 and "validate command '/bin/false %s' failed" in result["msg"]
    assert result["changed"] is True and result["changed_files"] == [str(tmp_path / "a")]
    assert (tmp_path / "a").read_text() == "first\n" and not (tmp_path / "b").exists()


def test_documentation_matches_argument_spec():
    doc = yaml.safe_load(module.DOCUMENTATION)
    documented = doc["options"]["files"]["suboptions"]
    spec = module.argument_spec()["files"]["options"]
    assert sorted(documented) == sorted(spec)
    for name, rules in spec.items():
        assert documented[name].get("type", "str") == rules.get("type", "str"), name
        assert documented[name].get("default") == rules.get("default"), name
        assert bool(documented[name].get("required")) == bool(rules.get("required")), name
    assert spec["content"]["no_log"] is True
    assert doc["attributes"]["check_mode"]["support"] == "full"
    assert doc["attributes"]["diff_mode"]["support"] == "full"
    for key, entry in yaml.safe_load(module.RETURN).items():
        assert "type" in entry and "sample" in entry, key
