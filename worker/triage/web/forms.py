"""Reading POSTed form fields (everything a form sends is text, or absent)."""

from __future__ import annotations

import re

from starlette.datastructures import FormData

from worker.triage.web.errors import BadRequest

_ITEM_ID = re.compile(r"[0-9]{1,18}")  # within a 64-bit database integer


def form_text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def form_ids(form: FormData, name: str) -> list[int]:
    """The item ids of a group of checkboxes."""
    values = form.getlist(name)
    ids = [int(v) for v in values if isinstance(v, str) and _ITEM_ID.fullmatch(v)]
    if len(ids) != len(values):
        raise BadRequest(f"{name} holds something other than item ids: reload the page")
    return ids
