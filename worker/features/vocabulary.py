"""Known values of the event's categorical fields; anything else is encoded as all-zeros."""

from __future__ import annotations

CATEGORIES: tuple[str, ...] = (
    "grocery",
    "restaurant",
    "retail",
    "fuel",
    "travel",
    "electronics",
    "gambling",
    "crypto",
    "wire_transfer",
)
HIGH_RISK: tuple[str, ...] = ("gambling", "crypto", "wire_transfer")
CHANNELS: tuple[str, ...] = ("pos", "ecommerce", "atm")
ENTRY_MODES: tuple[str, ...] = ("chip", "contactless", "magstripe", "keyed", "ecommerce")
# What the v2 schema gives ``entry_mode`` for an event of a v1 producer, which had no such
# field: "not reported", not a value nobody knows. Encoded, like any value outside
# ENTRY_MODES, as all zeros — which is what the models were trained with for such events.
ENTRY_MODE_NOT_REPORTED = "unknown"
