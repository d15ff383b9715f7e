#!/usr/bin/env python3
"""Fail when a role's meta/argument_specs.yml options differ from its defaults/main.yml keys.

Every public variable must be documented and validated, and every documented option must have a
default (or be marked required). Run by `make lint`.
"""

from __future__ import annotations

import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent


def compare(role_dir):
    defaults_file = role_dir / "defaults" / "main.yml"
    specs_file = role_dir / "meta" / "argument_specs.yml"
    if not specs_file.exists():
        return ["%s: meta/argument_specs.yml is missing" % role_dir.name]
    defaults = yaml.safe_load(defaults_file.read_text()) if defaults_file.exists() else {}
    specs = yaml.safe_load(specs_file.read_text()) or {}
    options = ((specs.get("argument_specs") or {}).get("main") or {}).get("options") or {}
    errors = []
    required = {name for name, spec in options.items() if (spec or {}).get("required")}
    for name in sorted(set(defaults or {}) - set(options)):
        errors.append("%s: default %s is not in meta/argument_specs.yml" % (role_dir.name, name))
    for name in sorted(set(options) - set(defaults or {}) - required):
        errors.append("%s: option %s has no default in defaults/main.yml (or mark it required)" % (role_dir.name, name))
    for name, spec in sorted(options.items()):
        if not (spec or {}).get("description"):
            errors.append("%s: option %s has no description" % (role_dir.name, name))
    return errors


def main():
    # A role is a directory with tasks (roles/monitoring ships only its rule files so far).
    roles = sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir() and (p / "tasks").is_dir())
    errors = [e for role in roles for e in compare(role)]
    for error in errors:
        print(error)
    print("argument specs: %d roles checked, %d problems" % (len(roles), len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
