# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""SCRAM-SHA-256 password verifiers in PostgreSQL's format (RFC 5802 / RFC 7677).

PgBouncer's auth_file accepts these verifiers, so the admin and stats users of the console never
have their password written to disk. The salt is derived from the user name and the password
(HMAC), so the same inputs give the same verifier and a re-run changes nothing; a different
password or user gives a different salt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

ITERATIONS = 4096  # PostgreSQL's scram_iterations default
SALT_BYTES = 16


class ScramError(ValueError):
    """A bad input, with the field it concerns."""


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def derived_salt(user, password):
    """16 bytes that depend only on (user, password)."""
    return hmac.new(password.encode("utf-8"), b"keel-scram-salt:" + user.encode("utf-8"), hashlib.sha256).digest()[
        :SALT_BYTES
    ]


def verifier(password, salt, iterations=ITERATIONS):
    """'SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>' for a password and raw salt bytes."""
    if not isinstance(password, str) or not password:
        raise ScramError("password: must be a non-empty string")
    if not isinstance(salt, (bytes, bytearray)) or len(salt) < 8:
        raise ScramError("salt: must be at least 8 bytes")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 4096:
        raise ScramError("iterations: must be an integer of at least 4096")
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), bytes(salt), iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return "SCRAM-SHA-256$%d:%s$%s:%s" % (iterations, _b64(salt), _b64(stored_key), _b64(server_key))


def user_verifier(user, password, iterations=ITERATIONS):
    """The verifier of a user's password with the salt derived from both (idempotent)."""
    if not isinstance(user, str) or not user:
        raise ScramError("user: must be a non-empty string")
    if not isinstance(password, str) or not password:
        raise ScramError("password: must be a non-empty string")
    return verifier(password, derived_salt(user, password), iterations)
