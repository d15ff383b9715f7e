#!/usr/bin/python
# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
module: files
short_description: Write a set of files and directories in one module run per host
version_added: 0.1.0
author:
  - keel.postgres maintainers (@keel)
description:
  - Makes each entry of O(files) what it says - content, owner, group and mode of a file, or existence, owner, group
    and mode of a directory - in one module execution per host, instead of one M(ansible.builtin.template) or
    M(ansible.builtin.copy) task (five connection round trips) per file.
  - The action plugin of the same name renders each O(files[].src) template on the controller with the task's
    variables, as M(ansible.builtin.template) does, and sends the rendered text to the host in the module
    arguments - no file transfer and no remote temporary directory (with pipelining).
  - A file that differs is written atomically - a temporary file in the same directory gets the content, owner,
    group and mode, is checked by O(files[].validate) when given, then replaces the destination. When the check
    fails the destination is left untouched and the task fails with the command's output.
  - Entries are handled in order; the task stops at the first entry that fails, the entries before it stay done.
  - Contents are UTF-8 text of at most 1 MiB each; binary files are not supported.
  - The task reports changed when any entry changed, so a handler notified by it runs when any of its files changed.
options:
  files:
    description: The files and directories, handled in the order given.
    type: list
    elements: dict
    required: true
    suboptions:
      dest:
        description: Absolute path of the file or directory.
        type: path
        required: true
      state:
        description: C(file) writes O(files[].content); C(directory) creates the directory and its parents.
        type: str
        choices: [file, directory]
        default: file
      content:
        description:
          - The text the file must hold. Never returned in C(invocation).
          - Mutually exclusive with O(files[].src).
        type: str
      src:
        description:
          - A template (Jinja2) found like M(ansible.builtin.template) finds it, in the role's or playbook's
            C(templates/) directory, rendered on the controller with the task's variables (C(template_*) and
            C(ansible_managed) included).
          - Handled by the action plugin; the module itself receives O(files[].content).
        type: str
      owner:
        description: Owner name.
        type: str
        default: root
      group:
        description: Group name.
        type: str
        default: root
      mode:
        description:
          - Mode as a quoted octal string such as C("0640"). Required. An unquoted YAML number is refused (an
            unquoted C(0640) is the integer 416).
        type: raw
        required: true
      validate:
        description:
          - Command that checks the new file before it replaces the destination; C(%s) stands for the temporary
            file. Run without a shell.
        type: str
      backup:
        description: Keep a copy of the file being replaced, named after it with a time stamp.
        type: bool
        default: false
      secret:
        description:
          - The content is secret - in diff mode the diff shows only C(<secret content changed>), and the content is
            masked anywhere in the module's output. Use C(no_log) on the task too.
        type: bool
        default: false
attributes:
  check_mode:
    support: full
    description: Reports what would change and writes nothing.
  diff_mode:
    support: full
    description: Returns a list of diffs, one for each file whose content changes (created files included).
  platform:
    support: full
    platforms: posix
    description: Any POSIX host with Python; owners and groups are looked up by name on the host.
notes:
  - SELinux contexts, ACLs and file attributes are not managed.
  - The module writes no C(Invoked with) line to the host's journal, so file contents never land there.
  - A destination that is a symlink or of the other type (file versus directory) is refused, not replaced.
seealso:
  - module: ansible.builtin.template
  - module: ansible.builtin.copy
"""

EXAMPLES = r"""
- name: Write the OS settings files
  keel.postgres.files:
    files:
      - {dest: /etc/timezone, content: "UTC\n", owner: root, group: root, mode: "0644"}
      - {dest: /etc/sysctl.d/60-keel-os.conf, src: sysctl.conf.j2, mode: "0644"}
      - {dest: /etc/keel, state: directory, mode: "0755"}
  notify: Apply sysctl settings

- name: PostgreSQL configuration, checked before it replaces the old one
  keel.postgres.files:
    files:
      - dest: /etc/postgresql/15/main/pg_ident.conf
        src: pg_ident.conf.j2
        owner: postgres
        group: postgres
        mode: "0640"
        validate: /usr/local/bin/check-ident %s
      - dest: /etc/postgresql/15/main/pgpass
        content: "{{ postgresql_pgpass }}"
        owner: postgres
        group: postgres
        mode: "0600"
        secret: true
  no_log: true
"""

RETURN = r"""
changed_files:
  description:
    - Destinations that changed (or would change in check mode). When an entry fails, the entries handled before it
      are listed here and in RV(results).
  returned: always
  type: list
  elements: str
  sample: ["/etc/timezone"]
results:
  description: One entry per item of O(files), in order.
  returned: always
  type: list
  elements: dict
  contains:
    dest:
      description: The destination.
      type: str
      sample: /etc/timezone
    state:
      description: C(file) or C(directory).
      type: str
      sample: file
    changed:
      description: Whether this entry changed (or would).
      type: bool
      sample: true
    differences:
      description: What differed - C(created), C(content), C(owner), C(group), C(mode).
      type: list
      elements: str
      sample: ["content", "mode"]
    backup_file:
      description: Copy of the replaced file, when O(files[].backup) was set and the content was replaced.
      type: str
      returned: when a backup was taken
      sample: /etc/timezone.4242.2026-12-04@10:00:00~
  sample: [{"dest": "/etc/timezone", "state": "file", "changed": true, "differences": ["content"]}]
diff:
  description: Diffs of the files whose content changes, in the form the callbacks print with C(--diff).
  returned: in diff mode, when a file's content changes
  type: list
  elements: dict
  sample: [{"before_header": "/etc/timezone", "after_header": "/etc/timezone", "before": "Etc/UTC\n", "after": "UTC\n"}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keel.postgres.plugins.module_utils.files import FilesError, ensure

NO_LOG_MARK = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def argument_spec():
    entry = dict(
        dest=dict(type="path", required=True),
        state=dict(type="str", choices=["file", "directory"], default="file"),
        content=dict(type="str", no_log=True),
        src=dict(type="str"),
        owner=dict(type="str", default="root"),
        group=dict(type="str", default="root"),
        mode=dict(type="raw", required=True),
        validate=dict(type="str"),
        backup=dict(type="bool", default=False),
        secret=dict(type="bool", default=False),
    )
    return dict(files=dict(type="list", elements="dict", required=True, options=entry))


def invocation(params):
    """The module arguments as returned in ``invocation``: every content masked."""
    files = []
    for entry in params["files"]:
        entry = dict(entry)
        if entry.get("content") is not None:
            entry["content"] = NO_LOG_MARK
        files.append(entry)
    return {"module_args": {"files": files}}


def main():
    # no_log=True: no "Invoked with" line in the host's journal. AnsibleModule masks a nested no_log option only where
    # its exact text appears, and the logged line holds the repr of the list, where a multi-line content is escaped.
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, no_log=True)
    files = module.params["files"]
    # The contents are no_log, so AnsibleModule would mask every occurrence of them in the result - including the
    # diff that shows them. Keep masking only the secret ones; invocation is masked explicitly below.
    for entry in files:
        if entry.get("content") is not None and not entry["secret"]:
            module.no_log_values.discard(entry["content"])
    try:
        results, diffs = ensure(files, check_mode=module.check_mode, want_diff=module._diff)
    except FilesError as exc:
        done = [result["dest"] for result in exc.results if result["changed"]]
        module.fail_json(
            msg=str(exc),
            changed=bool(done),
            changed_files=done,
            results=exc.results,
            invocation=invocation(module.params),
        )
    changed_files = [result["dest"] for result in results if result["changed"]]
    output = dict(
        changed=bool(changed_files),
        changed_files=changed_files,
        results=results,
        invocation=invocation(module.params),
    )
    if diffs:
        output["diff"] = diffs
    module.exit_json(**output)


if __name__ == "__main__":
    main()
