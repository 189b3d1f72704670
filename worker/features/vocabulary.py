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
