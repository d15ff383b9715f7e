"""Read what keel.postgres.patroni needs to know about a member, in one run on the host.

Run by the role as `python3 -c <this file> VENV ARCHIVE RECORD`; prints one JSON object:
version (Patroni installed in VENV, or null), archive (sha256 of
the wheelhouse archive on the host, or null), active and enabled (systemctl is-active /
is-enabled patroni), debian_package (dpkg's status of Debian's patroni package, '' when unknown)
and record (the sizing record of keel.postgres.postgresql, or null when it is missing).
It only reads.
"""

import hashlib
import json
import os
import subprocess
import sys


def run(argv):
    """stdout of argv, stripped; '' when the program is missing or fails to start."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError:
        return ""
    return done.stdout.strip()


def sha256(path):
    """Hex sha256 of the file at path, or None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            digest = hashlib.sha256()
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
            return digest.hexdigest()
    except FileNotFoundError:
        return None


def record(path):
    """The parsed sizing record, or None when it does not exist."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None


def main(venv, archive, record_path):
    python = os.path.join(venv, "bin", "python")
    version = None
    if os.path.exists(python):
        version = run([python, "-c", "from patroni.version import __version__; print(__version__)"]) or None
    return {
        "version": version,
        "archive": sha256(archive),
        "active": run(["systemctl", "is-active", "patroni"]),
        "enabled": run(["systemctl", "is-enabled", "patroni"]),
        "debian_package": run(["dpkg-query", "--show", "--showformat=${db:Status-Status}", "patroni"]),
        "record": record(record_path),
    }


print(json.dumps(main(*sys.argv[1:4])))
