# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The weak-secret policy, as pure functions.

Every secret the platform takes (PostgreSQL login roles, Patroni, etcd, PgBouncer, Redis ACL users,
the pgBackRest cipher passphrase, the CA key passphrase) goes through ``secret_errors``. A message
names the variable and the fix and shows the value as ``<secret>``: it is safe to print even where
the task that carries the secret is hidden by no_log.

Refused: a value that is not a string, shorter than the minimum length, one of a short list of
common passwords, a placeholder of the example inventory (CHANGE-ME and its spellings), the user
name itself, and, outside the lab inventory, the lab's throw-away ``lab-only-...`` values.
"""

from __future__ import annotations

import re

SECRET = "<secret>"
DEFAULT_MIN_LENGTH = 12
LAB_MARKER = "lab-only"

# Compared after lower-casing and dropping everything but letters and digits, so that
# "Pass_w0rd!" and "password" are both found by "passw0rd" / "password".
COMMON = frozenset(
    """
    password passw0rd password1 password12 password123 password1234 p4ssw0rd passwort motdepasse
    123456 1234567 12345678 123456789 1234567890 12345678910 qwerty qwerty123 qwertyuiop
    letmein welcome welcome1 welcome123 iloveyou admin admin123 administrator root toor secret
    secret123 supersecret topsecret postgres postgresql patroni etcd redis pgbouncer pgbackrest
    changeme changeit default abc123 abcdef123456 trustno1 monkey dragon master sunshine
    correcthorsebatterystaple
    """.split()
)
COMMON_PLAIN = frozenset(c.translate(str.maketrans("@$0134578", "asoieastb")) for c in COMMON) - {""}
# The example inventory's vault.yml.example placeholders, and their usual spellings.
PLACEHOLDERS = frozenset(
    """
    changeme changemenow changethis replaceme replacethis setme todo fixme placeholder example
    examplepassword yourpassword mypassword notsecret vaultpassword
    """.split()
)


LEET = str.maketrans("@$0134578", "asoieastb")


def _squash(value):
    return re.sub(r"[^a-z0-9]", "", value.lower().replace("@", "a").replace("$", "s"))


def _common(squashed):
    """A common password, also with digits appended or letters written as digits (p4ssw0rd)."""
    plain = squashed.translate(LEET)
    candidates = {squashed, re.sub(r"[0-9]+$", "", squashed), plain}
    return any(c and (c in COMMON or c.translate(LEET) in COMMON_PLAIN) for c in candidates)


def secret_errors(variable, value, user=None, min_length=DEFAULT_MIN_LENGTH, lab=False, required=True):
    """Return the reasons ``value`` may not be used as the secret ``variable`` (empty: accepted).

    user: the login the secret belongs to, refused as the password itself (None: no user).
    min_length: the shortest accepted length.
    lab: the inventory is the lab's (it defines keel_lab_name): its ``lab-only`` values are allowed.
    required: an empty or missing value is refused; when False an empty value means "not used".
    """
    if value is None or value == "":
        if not required:
            return []
        return [
            "%s is not set: set it from the vault (e.g. `openssl rand -base64 33`), at least %d characters"
            % (variable, min_length)
        ]
    if not isinstance(value, str):
        return [
            "%s=%s is a %s, not a string: quote it in YAML (a number or boolean is not a secret)"
            % (variable, SECRET, type(value).__name__)
        ]
    reasons = []
    squashed = _squash(value)
    if len(value) < min_length:
        reasons.append("it has %d characters, fewer than the %d required" % (len(value), min_length))
    if squashed in PLACEHOLDERS or squashed.startswith("changeme"):
        reasons.append("it is a placeholder of the example inventory (CHANGE-ME)")
    elif _common(squashed):
        reasons.append("it is a common password found in every password list")
    if user and squashed and squashed == _squash(str(user)):
        # The user name is not printed: it is the password here.
        reasons.append("it is the login's own user name")
    if not lab and LAB_MARKER in value.lower():
        reasons.append(
            "it is a throw-away value of the lab inventory (it contains %r), allowed only in an inventory that "
            "defines keel_lab_name" % LAB_MARKER
        )
    if not reasons:
        return []
    return [
        "%s=%s is refused: %s; set a random value from the vault (e.g. `openssl rand -base64 33`)"
        % (variable, SECRET, ", ".join(reasons))
    ]


def secrets_errors(secrets, lab=False):
    """Apply ``secret_errors`` to a list of ``{variable, value, user, min_length, required}`` entries."""
    errors = []
    for entry in secrets:
        for error in secret_errors(
            entry["variable"],
            entry.get("value"),
            user=entry.get("user"),
            min_length=entry.get("min_length", DEFAULT_MIN_LENGTH),
            lab=lab,
            required=entry.get("required", True),
        ):
            if error not in errors:
                errors.append(error)
    return errors
