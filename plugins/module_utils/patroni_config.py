# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic behind the Patroni role: the cluster-wide parameters and the /config PATCH.

``cluster_parameters`` picks, for every setting Patroni keeps identical on all members, the value
of the smallest member (the one every member can afford). ``config_patch`` returns the smallest
JSON merge patch that turns Patroni's dynamic configuration into the desired one, so the role
PATCHes /config only when something differs and never removes keys it does not manage.
"""

from __future__ import annotations

from ansible_collections.keel.postgres.plugins.module_utils.pg_tune import parse_setting


def _canonical(name, value):
    try:
        return parse_setting(name, value)
    except ValueError:
        return value


def cluster_parameters(records, names=None):
    """records: the sizing records (``settings`` name -> {value, reason}) of every member.

    Returns name -> value (as rendered in the record) for each name in ``names`` (default: each
    record's ``dcs_parameters``) that every record sets, taking the smallest value. A name some
    records lack is left out (the caller's defaults apply).
    """
    if not records:
        return {}
    if names is None:
        names = set(records[0].get("dcs_parameters") or [])
        for record in records[1:]:
            names &= set(record.get("dcs_parameters") or [])
    out = {}
    for name in sorted(names):
        values = []
        for record in records:
            item = (record.get("settings") or {}).get(name)
            if item is None:
                break
            value = item.get("value") if isinstance(item, dict) else item
            values.append(value)
        else:
            smallest = min(values, key=lambda value, name=name: _sort_key(name, value))
            out[name] = smallest
    return out


def _sort_key(name, value):
    canonical = _canonical(name, value)
    if isinstance(canonical, bool):
        return (0, int(canonical), "")
    if isinstance(canonical, (int, float)):
        # -1 means "unlimited" for sizes such as max_slot_wal_keep_size: the largest, not the smallest.
        return (0, float("inf") if canonical == -1 else canonical, "")
    return (1, 0, str(canonical))


def _same(current, desired):
    if isinstance(current, bool) or isinstance(desired, bool):
        words = {"on": True, "true": True, "off": False, "false": False}

        def as_bool(value):
            if isinstance(value, bool):
                return value
            return words.get(str(value).strip().lower(), value)

        return as_bool(current) == as_bool(desired)
    return str(current).strip().lower() == str(desired).strip().lower()


def config_patch(current, desired):
    """Return the merge patch from ``current`` to ``desired`` (only keys of ``desired``).

    Nested mappings are compared key by key; scalars as text, case-insensitively, with on/off and
    true/false equal. An empty dict means nothing to change.
    """
    current = current if isinstance(current, dict) else {}
    patch = {}
    for key, want in desired.items():
        have = current.get(key)
        if isinstance(want, dict):
            sub = config_patch(have, want) if isinstance(have, dict) else want
            if sub:
                patch[key] = sub
        elif isinstance(want, list):
            if not isinstance(have, list) or len(have) != len(want) or not all(map(_same, have, want)):
                patch[key] = want
        elif have is None and want is not None:
            patch[key] = want
        elif want is None:
            if have is not None:
                patch[key] = None
        elif not _same(have, want):
            patch[key] = want
    return patch
