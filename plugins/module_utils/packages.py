# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which apt package specifications a host does not satisfy yet, from its package facts.

A role's `apt` task is skipped when the facts gathered at the start of the run show every package
it wants already installed: an apt run that changes nothing still costs a module execution per
host (the lab measured ~3.5 s per 5-host task). Without facts every package counts as missing, so
the task runs as it always did.
"""

from __future__ import annotations

import fnmatch

# apt's relation operators in a package specification ("name=version", "name>=version").
_OPERATORS = ("<=", ">=", "<<", ">>", "=", "<", ">")


def split_spec(spec):
    """('postgresql-15', None) for 'postgresql-15'; ('pgbackrest', '2.45-1') for 'pgbackrest=2.45-1'.

    Returns (name, operator, version); operator and version are None for a bare name."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("package specification must be a non-empty string, got %r" % (spec,))
    spec = spec.strip()
    for op in _OPERATORS:
        name, sep, version = spec.partition(op)
        if sep:
            if not name or not version:
                raise ValueError("package specification %r has an empty name or version" % spec)
            return name.strip(), op, version.strip()
    return spec, None, None


def satisfied(spec, installed):
    """True when `installed` (package facts: name -> list of {'version': ...}) satisfies `spec`.

    A bare name is satisfied by any installed version; "name=version" by an installed version equal
    to it (apt's trailing '*' wildcard allowed). Other relations ('>=' ...) need apt's version
    comparison, which is not reimplemented here: they count as unsatisfied, so apt decides."""
    name, op, version = split_spec(spec)
    entries = installed.get(name) or []
    if not entries:
        return False
    if op is None:
        return True
    if op != "=":
        return False
    return any(fnmatch.fnmatchcase(str(e.get("version", "")), version) for e in entries)


def missing_packages(wanted, installed):
    """The specifications of `wanted` that `installed` does not satisfy, in their order.

    `installed` None (no package facts) means nothing is known: every specification is missing."""
    if isinstance(wanted, str):
        wanted = [wanted]
    if not isinstance(wanted, (list, tuple)):
        raise ValueError("wanted packages must be a list of strings, got %r" % (wanted,))
    if installed is None:
        return list(wanted)
    if not isinstance(installed, dict):
        raise ValueError("installed packages must be the package facts mapping, got %r" % type(installed).__name__)
    return [spec for spec in wanted if not satisfied(spec, installed)]
