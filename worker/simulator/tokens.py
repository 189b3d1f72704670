"""Opaque identifiers: keyed hashes of entity indices, never card numbers."""

from __future__ import annotations

import hashlib
import re

import numpy as np
from numpy.typing import NDArray

__all__ = ["opaque_tokens", "seed_key", "transaction_ids"]

# A token must not contain a run of digits long enough to pass for a card number (PANs
# are 12-19 digits); rejecting runs of 8 or more leaves a wide margin.
_DIGIT_RUN = re.compile(r"\d{8,}")
_HEX_CHARS = 16  # 64-bit tokens


def seed_key(seed: int) -> bytes:
    """A 32-byte BLAKE2b key derived from the simulation seed."""
    return hashlib.blake2b(f"worker.simulator:{seed}".encode(), digest_size=32).digest()


def opaque_tokens(prefix: str, n: int, key: bytes, domain: bytes) -> NDArray[np.object_]:
    """``prefix + 16 hex chars`` for entity indices ``0..n-1``, unique and stable per key.

    ``domain`` (at most 16 bytes) separates the token spaces of cards and terminals.
    A digest that looks like a number or collides with an earlier one is re-hashed
    with a counter, so the result stays deterministic.
    """
    out = np.empty(n, dtype=object)
    seen: set[str] = set()
    for i in range(n):
        counter = 0
        while True:
            msg = i.to_bytes(8, "little") + counter.to_bytes(4, "little")
            digest = hashlib.blake2b(
                msg, key=key, person=domain, digest_size=_HEX_CHARS // 2
            ).hexdigest()
            if digest not in seen and _DIGIT_RUN.search(digest) is None:
                break
            counter += 1
        seen.add(digest)
        out[i] = prefix + digest
    return out


def transaction_ids(n: int, key: bytes) -> NDArray[np.object_]:
    """``tx_<8 hex seed tag>_<zero-padded sequence>`` in the given (time) order."""
    tag = hashlib.blake2b(b"transaction", key=key, digest_size=4).hexdigest()
    width = max(9, len(str(max(n - 1, 0))))
    out = np.empty(n, dtype=object)
    out[:] = [f"tx_{tag}_{i:0{width}d}" for i in range(n)]
    return out
