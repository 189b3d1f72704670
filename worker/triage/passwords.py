"""Analysts' passwords: argon2id through argon2-cffi, whose defaults follow RFC 9106.

Only the hash is ever stored; a password is never logged or kept.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    """Hash, verify and upgrade analysts' passwords.

    ``hasher``: tests pass a cheap one (``PasswordHasher.from_parameters(profiles.CHEAPEST)``);
    the app uses argon2-cffi's defaults.
    """

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches. With no hash (an unknown user) the password is still
        checked, against a dummy hash, so that a wrong username takes as long as a wrong
        password: the login page does not tell by its timing which usernames exist."""
        if password_hash is None:
            self._verify(self._dummy(), password)
            return False
        return self._verify(password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash was made with other parameters than today's (re-hash at login)."""
        return self._hasher.check_needs_rehash(password_hash)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def _dummy(self) -> str:
        # Made on first use: hashing costs as much as verifying, and most runs never need it.
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash("not a password anybody has")
        return self._dummy_hash
