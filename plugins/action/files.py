# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of keel.postgres.files: render the templates on the controller, run the module once per host."""

from __future__ import annotations

import os

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

try:  # ansible-core 2.19+: the API the builtin template action uses
    from ansible._internal._templating._template_vars import generate_ansible_template_vars
    from ansible.template import trust_as_template

    HAS_TEMPLATING = True
except ImportError:  # pragma: no cover - older ansible-core
    HAS_TEMPLATING = False

MAX_CONTENT_BYTES = 1024 * 1024
MODULE = "keel.postgres.files"
# The builtin template action's defaults.
TEMPLATE_OVERRIDES = dict(trim_blocks=True, lstrip_blocks=False, newline_sequence="\n")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("files",))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        try:
            files = self._task.args.get("files")
            if not isinstance(files, list) or not files:
                raise AnsibleActionFail("files must be a non-empty list of entries (dest, content or src, mode, ...)")
            entries = [self._entry(index, entry, task_vars) for index, entry in enumerate(files)]
            result.update(self._execute_module(module_name=MODULE, module_args={"files": entries}, task_vars=task_vars))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _entry(self, index, entry, task_vars):
        """The module's entry: mode checked, src rendered into content, size checked."""
        if not isinstance(entry, dict) or not entry.get("dest"):
            raise AnsibleActionFail("files[%d] must be a dict with at least dest, got %r" % (index, entry))
        dest = entry["dest"]
        entry = dict(entry)
        mode = entry.get("mode")
        if mode is None:
            raise AnsibleActionFail(
                'files[%d] (%s): mode is required, as a quoted octal string such as "0644"' % (index, dest)
            )
        if isinstance(mode, (int, float)):
            raise AnsibleActionFail(
                'files[%d] (%s): mode must be a quoted octal string such as "0644", got the number %r: YAML reads an'
                " unquoted 0644 as the integer 420, and 644 as decimal 644 (ansible-lint's risky-octal)"
                % (index, dest, mode)
            )
        src = entry.pop("src", None)
        if src is not None:
            if entry.get("content") is not None:
                raise AnsibleActionFail("files[%d] (%s): src and content are mutually exclusive" % (index, dest))
            entry["content"] = self._render(src, dest, task_vars)
        content = entry.get("content")
        if content is not None:
            if not isinstance(content, str):
                raise AnsibleActionFail(
                    "files[%d] (%s): content must be text, got %s" % (index, dest, type(content).__name__)
                )
            size = len(content.encode("utf-8", errors="surrogateescape"))
            if size > MAX_CONTENT_BYTES:
                raise AnsibleActionFail(
                    "files[%d] (%s): content is %d bytes, over the 1 MiB limit of keel.postgres.files; use"
                    " ansible.builtin.copy or template for large files" % (index, dest, size)
                )
            entry["content"] = str(content)
        return entry

    def _render(self, src, dest, task_vars):
        """Render the template ``src`` as ansible.builtin.template does (same search path, template_* vars)."""
        if not HAS_TEMPLATING:
            raise AnsibleActionFail("keel.postgres.files renders src templates with ansible-core 2.19 or later")
        try:
            source = self._find_needle("templates", src)
        except AnsibleError as exc:
            raise AnsibleActionFail(to_text(exc)) from exc
        template_data = trust_as_template(self._loader.get_text_file_contents(source))
        searchpath = list(task_vars.get("ansible_search_path", []))
        searchpath.extend([self._loader._basedir, os.path.dirname(source)])
        paths = []
        for path in searchpath:
            paths.extend([os.path.join(path, "templates"), path])
        template_vars = task_vars.copy()
        template_vars.update(
            generate_ansible_template_vars(
                path=src,
                fullpath=source,
                dest_path=dest,
                include_ansible_managed="ansible_managed" not in template_vars,
            )
        )
        templar = self._templar.copy_with_new_env(searchpath=paths, available_variables=template_vars)
        rendered = templar.template(template_data, escape_backslashes=False, overrides=TEMPLATE_OVERRIDES)
        return "" if rendered is None else to_text(rendered)
