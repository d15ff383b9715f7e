"""keel.postgres.files end to end: ansible-playbook, local connection, a role with a template under tmp_path."""

from __future__ import annotations

import grp
import json
import os
import pwd
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
USER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name

TASKS = """\
- name: Write the demo files
  keel.postgres.files:
    files:
      - {dest: "{{ out }}/etc", state: directory, owner: "{{ user }}", group: "{{ group }}", mode: "0750"}
      - {dest: "{{ out }}/etc/demo.conf", src: demo.conf.j2, owner: "{{ user }}", group: "{{ group }}", mode: "0640"}
      - dest: "{{ out }}/etc/timezone"
        content: "UTC\\n"
        owner: "{{ user }}"
        group: "{{ group }}"
        mode: "0644"
        validate: /usr/bin/test -s %s
  notify: Demo files changed
"""

HANDLERS = """\
- name: Demo files changed
  ansible.builtin.debug:
    msg: handler ran
"""

PLAYBOOK = """\
- name: Demo
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - demo
"""


@pytest.fixture
def project(tmp_path):
    role = tmp_path / "roles" / "demo"
    for sub, text in (("tasks", TASKS), ("handlers", HANDLERS)):
        (role / sub).mkdir(parents=True)
        (role / sub / "main.yml").write_text(text)
    (role / "templates").mkdir()
    (role / "templates" / "demo.conf.j2").write_text("# {{ template_path | basename }}\nport = {{ port }}\n")
    (tmp_path / "site.yml").write_text(PLAYBOOK)
    (tmp_path / "out").mkdir()
    # A config of its own: the repository's enables profile_tasks, whose output would break the json callback's.
    (tmp_path / "ansible.cfg").write_text(
        "[defaults]\ncollections_path = %s\nstdout_callback = ansible.builtin.json\n"
        "retry_files_enabled = false\n[connection]\npipelining = true\n" % os.path.join(ROOT, "collections")
    )
    return tmp_path


def play(project, *extra, port=5432):
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(project / "ansible.cfg"),
        ANSIBLE_LOCAL_TEMP=str(project / "ansible-tmp"),
        ANSIBLE_NOCOLOR="1",
    )
    extra_vars = json.dumps(
        {
            "out": str(project / "out"),
            "user": USER,
            "group": GROUP,
            "port": port,
            "ansible_python_interpreter": sys.executable,
        }
    )
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-e", extra_vars]
    proc = subprocess.run(
        cmd + list(extra) + [str(project / "site.yml")],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(project),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    output = json.loads(proc.stdout)
    task = output["plays"][0]["tasks"][0]
    handlers = [t["task"]["name"] for t in output["plays"][0]["tasks"][1:]]
    return task["hosts"]["localhost"], output["stats"]["localhost"], handlers


def test_first_run_changes_second_does_not_check_diff_writes_nothing(project):
    conf = project / "out" / "etc" / "demo.conf"

    result, stats, handlers = play(project)
    assert result["changed"] is True and stats["changed"] == 1
    assert len(result["changed_files"]) == 3
    assert conf.read_text() == "# demo.conf.j2\nport = 5432\n"
    assert handlers == ["demo : Demo files changed"]

    result, stats, handlers = play(project)
    assert result["changed"] is False and stats["changed"] == 0
    assert handlers == []

    result, stats, handlers = play(project, "--check", "--diff", port=6543)
    assert result["changed"] is True and result["changed_files"] == [str(conf)]
    assert result["diff"] == [
        {
            "before_header": str(conf),
            "after_header": str(conf),
            "before": "# demo.conf.j2\nport = 5432\n",
            "after": "# demo.conf.j2\nport = 6543\n",
        }
    ]
    assert conf.read_text() == "# demo.conf.j2\nport = 5432\n"


def test_unquoted_mode_refused(project):
    (project / "roles" / "demo" / "tasks" / "main.yml").write_text(
        TASKS.replace('mode: "0644"', "mode: 0644").replace("\n  notify: Demo files changed", "")
    )
    env = dict(os.environ, ANSIBLE_CONFIG=str(project / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    extra_vars = json.dumps({"out": str(project / "out"), "user": USER, "group": GROUP, "port": 1})
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-e", extra_vars]
        + ["-e", "ansible_python_interpreter=%s" % sys.executable, str(project / "site.yml")],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(project),
        timeout=120,
        check=False,
    )
    assert proc.returncode != 0
    assert "mode must be a quoted octal string" in proc.stdout
    assert not (project / "out" / "etc").exists()
