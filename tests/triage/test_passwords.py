"""Analysts' passwords: argon2id hashes, verified; unknown users cost a verify too."""

from __future__ import annotations

from typing import Literal

from argon2 import PasswordHasher, profiles

from worker.triage.passwords import Passwords

CHEAP = PasswordHasher.from_parameters(profiles.CHEAPEST)


def test_a_hash_verifies_its_password_and_no_other() -> None:
    passwords = Passwords(CHEAP)
    stored = passwords.hash("correct horse")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert passwords.verify(stored, "correct horse")
    assert not passwords.verify(stored, "correct horse ")
    assert not passwords.verify(stored, "")


def test_two_hashes_of_one_password_differ() -> None:
    passwords = Passwords(CHEAP)
    assert passwords.hash("same") != passwords.hash("same")  # salted


def test_an_unknown_user_is_refused_after_a_verify_of_the_dummy_hash() -> None:
    calls: list[str] = []

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            calls.append(str(hash))
            return super().verify(hash, password)

    passwords = Passwords(Counting.from_parameters(profiles.CHEAPEST))
    assert not passwords.verify(None, "not a password anybody has")
    assert not passwords.verify(None, "anything")
    assert len(calls) == 2 and calls[0] == calls[1]  # the same dummy hash, made once


def test_a_corrupt_stored_hash_is_a_refusal_not_an_error() -> None:
    assert not Passwords(CHEAP).verify("not-a-hash", "secret")


def test_a_hash_of_weaker_parameters_needs_a_rehash() -> None:
    weak = Passwords(CHEAP).hash("secret")
    strong = Passwords()
    assert strong.needs_rehash(weak)
    assert not strong.needs_rehash(strong.hash("secret"))
