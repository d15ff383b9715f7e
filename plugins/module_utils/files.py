# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of the files module: compare a set of files and directories with what they should be, and fix them.

Each file is written atomically: a temporary file in the destination's directory gets the content, owner, group
and mode, is checked by the optional validate command, and only then replaces the destination.
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
import time

MAX_CONTENT_BYTES = 1024 * 1024
SECRET_DIFF = "<secret content changed>\n"
MODE_RE = re.compile(r"^0?[0-7]{3,4}$")


class FilesError(Exception):
    """A request that cannot be carried out; the message names the file and the fix.

    ``results`` holds the results of the entries handled before the failing one.
    """

    def __init__(self, message, results=None):
        super().__init__(message)
        self.results = results or []


def parse_mode(value, dest):
    """The mode as an int from an octal string such as "0640"; an int (YAML's 0640 is 416) is refused."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise FilesError(
            '%s: mode must be a quoted octal string such as "0640", got %r (%s): an unquoted 0640 is read by YAML'
            " as the integer 416, and 640 as decimal 640" % (dest, value, type(value).__name__)
        )
    if not MODE_RE.match(value):
        raise FilesError('%s: mode %r is not an octal string such as "0640"' % (dest, value))
    return int(value, 8)


def normalize(entry):
    """Check one entry and fill its defaults; returns a new dict with ``mode`` as int and ``data`` as bytes."""
    dest = entry.get("dest")
    if not dest or not os.path.isabs(dest):
        raise FilesError("dest must be an absolute path, got %r" % (dest,))
    state = entry.get("state") or "file"
    if state not in ("file", "directory"):
        raise FilesError("%s: state must be file or directory, got %r" % (dest, state))
    if entry.get("mode") is None:
        raise FilesError('%s: mode is required (a quoted octal string such as "0644")' % dest)
    out = {
        "dest": os.path.normpath(dest),
        "state": state,
        "owner": entry.get("owner") or "root",
        "group": entry.get("group") or "root",
        "mode": parse_mode(entry["mode"], dest),
        "validate": entry.get("validate"),
        "backup": bool(entry.get("backup")),
        "secret": bool(entry.get("secret")),
    }
    if entry.get("src") is not None:
        raise FilesError("%s: src is rendered by the action plugin; the module takes content" % dest)
    if state == "directory":
        if entry.get("content") is not None or out["validate"]:
            raise FilesError("%s: content and validate apply to files, not to state=directory" % dest)
        return out
    if entry.get("content") is None:
        raise FilesError("%s: a file needs content (or src in the task)" % dest)
    data = entry["content"].encode("utf-8")
    if len(data) > MAX_CONTENT_BYTES:
        raise FilesError("%s: content is %d bytes, over the 1 MiB limit of this module" % (dest, len(data)))
    if out["validate"] and "%s" not in out["validate"].replace("%%", ""):
        raise FilesError(
            "%s: validate must contain %%s (the temporary file to check), got %r" % (dest, out["validate"])
        )
    out["data"] = data
    return out


def ids(owner, group, dest):
    """uid and gid of the owner and group names."""
    try:
        uid = pwd.getpwnam(owner).pw_uid
    except KeyError:
        raise FilesError("%s: owner %r does not exist on this host" % (dest, owner)) from None
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        raise FilesError("%s: group %r does not exist on this host" % (dest, group)) from None
    return uid, gid


def current_state(dest):
    """What is at ``dest`` now: None, or type, uid, gid, mode and (for a regular file) sha256."""
    try:
        st = os.lstat(dest)
    except FileNotFoundError:
        return None
    if stat.S_ISREG(st.st_mode):
        kind = "file"
    elif stat.S_ISDIR(st.st_mode):
        kind = "directory"
    else:
        kind = "other"
    state = {"type": kind, "uid": st.st_uid, "gid": st.st_gid, "mode": stat.S_IMODE(st.st_mode), "size": st.st_size}
    if kind == "file":
        digest = hashlib.sha256()
        with open(dest, "rb") as handle:
            for block in iter(lambda: handle.read(65536), b""):
                digest.update(block)
        state["sha256"] = digest.hexdigest()
    return state


def differences(entry, current, uid, gid):
    """What differs between ``current`` and the entry: a subset of created, content, owner, group, mode."""
    if current is None:
        return ["created"]
    if current["type"] != entry["state"]:
        raise FilesError(
            "%s: is a %s, expected a %s; this module does not replace one with the other"
            % (
                entry["dest"],
                current["type"] if current["type"] != "other" else "symlink or special file",
                entry["state"],
            )
        )
    changed = []
    if entry["state"] == "file" and current["sha256"] != hashlib.sha256(entry["data"]).hexdigest():
        changed.append("content")
    if current["uid"] != uid:
        changed.append("owner")
    if current["gid"] != gid:
        changed.append("group")
    if current["mode"] != entry["mode"]:
        changed.append("mode")
    return changed


_VALIDATE_PLACEHOLDER = re.compile(r"%([%s])")


def validate_argv(command, path):
    """``command`` split like a shell would, with %s replaced by ``path`` and %% by %, as
    ansible.builtin.template and copy fill in their ``validate`` (Python %-formatting)."""
    filled = _VALIDATE_PLACEHOLDER.sub(lambda m: "%" if m.group(1) == "%" else shlex.quote(path), command)
    return shlex.split(filled)


def run_validate(command, path):
    """Run ``command`` with %s replaced by ``path`` (%% stays a literal %); returns (rc, stdout, stderr)."""
    argv = validate_argv(command, path)
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def read_text(dest, size):
    """The current content as text for a diff; a placeholder for a large or non-UTF-8 file."""
    if size > MAX_CONTENT_BYTES:
        return "<%d bytes, too large to show>\n" % size
    with open(dest, "rb") as handle:
        raw = handle.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "<%d bytes, not UTF-8 text>\n" % size


def write_file(entry, uid, gid, validate=run_validate):
    """Write the entry atomically: temp file beside dest, owner/mode, validate, then replace. Returns a backup path."""
    dest = entry["dest"]
    directory = os.path.dirname(dest)
    if not os.path.isdir(directory):
        raise FilesError(
            "%s: directory %s does not exist (add a state=directory entry before this one)" % (dest, directory)
        )
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".%s." % os.path.basename(dest), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(entry["data"])
            handle.flush()
            os.fchown(handle.fileno(), uid, gid)
            os.fchmod(handle.fileno(), entry["mode"])
            os.fsync(handle.fileno())
        if entry["validate"]:
            rc, out, err = validate(entry["validate"], tmp)
            if rc != 0:
                raise FilesError(
                    "%s: validate command %r failed with rc %d; the file was left unchanged. stdout: %s stderr: %s"
                    % (dest, entry["validate"], rc, out.strip(), err.strip())
                )
        backup = None
        if entry["backup"] and os.path.isfile(dest):
            backup = "%s.%d.%s~" % (dest, os.getpid(), time.strftime("%Y-%m-%d@%H:%M:%S"))
            shutil.copy2(dest, backup)
        os.replace(tmp, dest)
        return backup
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def fix_directory(entry, current, uid, gid):
    """Create the directory (parents as needed) or fix its owner and mode."""
    dest = entry["dest"]
    if current is None:
        os.makedirs(dest, exist_ok=True)
    os.chown(dest, uid, gid)
    os.chmod(dest, entry["mode"])


def ensure(entries, check_mode=False, want_diff=False, validate=run_validate):
    """Make every entry what it says, in order.

    Returns ``(results, diffs)``: one result per entry (dest, changed, differences and, when taken, the backup
    path) and, when ``want_diff``, a diff per file whose content changed. In check mode nothing is written.
    Raises FilesError on the first entry that cannot be carried out; entries before it stay done.
    """
    normalized = [normalize(entry) for entry in entries]
    results, diffs = [], []
    try:
        ensure_each(normalized, results, diffs, check_mode, want_diff, validate)
    except (FilesError, OSError) as exc:
        # The entries before the failing one stay done: say which.
        raise FilesError(str(exc), results) from exc
    return results, diffs


def ensure_each(normalized, results, diffs, check_mode, want_diff, validate):
    """The loop of ensure(): appends to ``results`` and ``diffs`` as it goes."""
    planned_dirs = set()
    for entry in normalized:
        dest = entry["dest"]
        uid, gid = ids(entry["owner"], entry["group"], dest)
        current = current_state(dest)
        changed = differences(entry, current, uid, gid)
        result = {"dest": dest, "state": entry["state"], "changed": bool(changed), "differences": changed}
        if changed and entry["state"] == "file" and want_diff and ("content" in changed or "created" in changed):
            diffs.append(file_diff(entry, current))
        if changed and not check_mode:
            if entry["state"] == "directory":
                fix_directory(entry, current, uid, gid)
            elif set(changed) <= {"owner", "group", "mode"}:
                fix_attributes(entry, changed, uid, gid)
            else:
                backup = write_file(entry, uid, gid, validate)
                if backup:
                    result["backup_file"] = backup
        elif changed and entry["state"] == "file":
            directory = os.path.dirname(dest)
            if not os.path.isdir(directory) and directory not in planned_dirs:
                raise FilesError(
                    "%s: directory %s does not exist (add a state=directory entry before this one)" % (dest, directory)
                )
        if entry["state"] == "directory" and "created" in changed:
            planned_dirs.add(dest)
        results.append(result)


def fix_attributes(entry, changed, uid, gid):
    """Only owner, group or mode differ: change them in place (the content is already right)."""
    if "owner" in changed or "group" in changed:
        os.chown(entry["dest"], uid, gid)
    if "mode" in changed:
        os.chmod(entry["dest"], entry["mode"])


def file_diff(entry, current):
    """A diff in the form Ansible's callbacks print: before/after text and headers."""
    dest = entry["dest"]
    if entry["secret"]:
        before, after = "", SECRET_DIFF
    else:
        before = "" if current is None else read_text(dest, current["size"])
        after = entry["data"].decode("utf-8")
    return {
        "before_header": dest if current is not None else "%s (absent)" % dest,
        "after_header": dest,
        "before": before,
        "after": after,
    }
