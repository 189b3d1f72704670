"""An item: the event, the score and why, its card's and terminal's other items, the audit
trail; claim, release and decide."""

from __future__ import annotations

import logging
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from worker.triage.types import LABELLED, REASON_CODES, NotFound, Outcome, Status
from worker.triage.web.auth import SessionUser
from worker.triage.web.errors import BadRequest
from worker.triage.web.formatting import MISSING, clock, money, outcome_label, yes_no
from worker.triage.web.forms import form_text
from worker.triage.web.query import remembered
from worker.triage.web.rendering import flash, redirect, render
from worker.triage.web.state import in_thread, web_state

log = logging.getLogger(__name__)

# What an analyst may decide (a bulk close is a lead's, from the queue).
ANALYST_OUTCOMES = (Outcome.FRAUD, Outcome.LEGITIMATE, Outcome.UNSURE)
OUTCOME_KEYS = {Outcome.FRAUD: "f", Outcome.LEGITIMATE: "l", Outcome.UNSURE: "u"}  # triage.js
MAX_NOTE = 2000
MAX_ITEM_ID = 2**63 - 1


async def item_page(request: Request, user: SessionUser) -> Response:
    state = web_state(request)
    detail = await in_thread(state.store.item, _item_id(request))
    row = detail.row
    context = {
        "item": detail,
        "row": row,
        "event_fields": event_fields(detail.event),
        "holds_claim": row.claimed_by == user.username,
        "is_open": row.status is Status.OPEN,
        "outcomes": [
            (o.value, outcome_label(o), OUTCOME_KEYS[o], REASON_CODES[o]) for o in ANALYST_OUTCOMES
        ],
        "now_ms": state.now_ms(),
        "queue_link": remembered(request.session).link(page=None),
    }
    return render(request, "item.html", context)


async def claim(request: Request, user: SessionUser, form: FormData) -> Response:
    item_id = _item_id(request)
    until_ms = await in_thread(web_state(request).store.claim, item_id, user.username)
    log.info("item %d claimed by %s", item_id, user.username)
    flash(request, f"claimed: yours until {clock(until_ms)}")
    return redirect(f"/items/{item_id}")


async def release(request: Request, user: SessionUser, form: FormData) -> Response:
    item_id = _item_id(request)
    await in_thread(web_state(request).store.release, item_id, user.username)
    log.info("item %d released by %s", item_id, user.username)
    flash(request, "released: another analyst can take it")
    return redirect(f"/items/{item_id}")


async def decide(request: Request, user: SessionUser, form: FormData) -> Response:
    """Decide (with one's own claim), then on to the next open item of the queue's filters."""
    item_id = _item_id(request)
    outcome, reason_code, note = _decision(form)
    state = web_state(request)
    store = state.store
    await in_thread(store.decide, item_id, user.username, outcome, reason_code, note)
    log.info("item %d decided %s by %s", item_id, outcome.value, user.username)
    if state.metrics is not None:
        state.metrics.decided(outcome.value)
    flash(request, _decided_message(outcome))
    query = remembered(request.session)
    next_id = await in_thread(store.next_open, query.filters, user.username)
    return redirect(query.link(page=None) if next_id is None else f"/items/{next_id}")


def _decision(form: FormData) -> tuple[Outcome, str, str]:
    """The decide form's fields, checked: an analyst's outcome, one of its reason codes, a
    note of at most ``MAX_NOTE`` characters."""
    chosen = form_text(form, "outcome")
    outcome = next((o for o in ANALYST_OUTCOMES if o.value == chosen), None)
    if outcome is None:
        raise BadRequest("no outcome chosen: pick fraud, legitimate or can't tell")
    reason_code = form_text(form, "reason_code")
    if reason_code not in REASON_CODES[outcome]:
        raise BadRequest(
            f"pick a reason code of {outcome_label(outcome)}: " + ", ".join(REASON_CODES[outcome])
        )
    note = form_text(form, "note").strip()
    if len(note) > MAX_NOTE:
        raise BadRequest(f"the note is over {MAX_NOTE} characters: shorten it")
    return outcome, reason_code, note


def _decided_message(outcome: Outcome) -> str:
    if outcome in LABELLED:
        return f"decided {outcome_label(outcome)}: the label is on its way"
    return f"decided {outcome_label(outcome)}: no label is sent for it"


def _item_id(request: Request) -> int:
    item_id = request.path_params["item_id"]
    assert isinstance(item_id, int)
    if item_id > MAX_ITEM_ID:  # the database would refuse the number itself
        raise NotFound(f"no item {item_id}: go back to the queue")
    return item_id


def event_fields(event: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(label, field name, text) of the event's fields the item page shows, in its order."""
    get = event.get
    amount = get("amount")
    account_age = get("account_age_days")
    return [
        ("Amount", "amount", MISSING if amount is None else money(amount, get("currency", ""))),
        ("Merchant category", "merchant_category", str(get("merchant_category", MISSING))),
        ("Channel", "channel", str(get("channel", MISSING))),
        ("Country", "country", str(get("country", MISSING))),
        ("Entry mode", "entry_mode", str(get("entry_mode", MISSING))),
        ("Cardholder verified", "cardholder_verified", yes_no(get("cardholder_verified"))),
        ("Account age", "account_age_days", MISSING if account_age is None else f"{account_age} d"),
        ("International", "is_international", yes_no(get("is_international"))),
        (
            "Has gone abroad before",
            "has_international_history",
            yes_no(get("has_international_history")),
        ),
    ]
