"""The queue: open items riskiest first (or by age), filtered, with counts; "next"; and the
lead's bulk close of degraded-only items."""

from __future__ import annotations

import logging
import math

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from worker.triage.types import Kind
from worker.triage.web.auth import SessionUser
from worker.triage.web.errors import BadRequest
from worker.triage.web.forms import form_ids, form_text
from worker.triage.web.query import (
    DECISIONS,
    SORTS,
    SOURCES,
    parse_queue_query,
    remember,
    remembered,
)
from worker.triage.web.rendering import flash, redirect, render
from worker.triage.web.state import in_thread, web_state

log = logging.getLogger(__name__)

NOTHING_SELECTED = "no item selected: tick the items to close, or close all degraded-only items"


async def queue_page(request: Request, user: SessionUser) -> Response:
    state = web_state(request)
    query = parse_queue_query(request.query_params)
    remember(request.session, query)
    size = state.settings.page_size
    page = await in_thread(
        state.store.queue, query.filters, limit=size, offset=(query.page - 1) * size
    )
    degraded = query.filters.kind is Kind.DEGRADED
    context = {
        "query": query,
        "queue": page,
        "pages": max(1, math.ceil(page.total / size)),
        "now_ms": state.now_ms(),
        "degraded": degraded,
        "bulk_close": degraded and user.is_lead,
        "choices": {"decision": DECISIONS, "source": SOURCES, "sort": SORTS},
    }
    return render(request, "queue.html", context)


async def queue_next(request: Request, user: SessionUser) -> Response:
    """The first open item nobody else holds, in the given filters' order (the remembered
    ones when none are given)."""
    state = web_state(request)
    if request.query_params:
        query = parse_queue_query(request.query_params)
    else:
        query = remembered(request.session)
    item_id = await in_thread(state.store.next_open, query.filters, user.username)
    if item_id is None:
        flash(request, "no open item left for these filters: the queue is clear")
        return redirect(query.link(page=None))
    return redirect(f"/items/{item_id}")


async def close_degraded(request: Request, user: SessionUser, form: FormData) -> Response:
    """Close the ticked degraded-only items, or all of them (``all=1``); no labels."""
    close_all = form_text(form, "all") == "1"
    item_ids = None if close_all else form_ids(form, "item_id")
    if item_ids is not None and not item_ids:
        raise BadRequest(NOTHING_SELECTED)
    closed = await in_thread(web_state(request).store.close_degraded, user.username, item_ids)
    log.info("%d degraded-only items closed by %s", closed, user.username)
    flash(request, _closed_message(closed, item_ids))
    return redirect("/queue?kind=degraded")


def _closed_message(closed: int, item_ids: list[int] | None) -> str:
    message = f"closed {closed} degraded-only item{'' if closed == 1 else 's'}"
    left = 0 if item_ids is None else len(set(item_ids)) - closed
    if left > 0:
        message += f"; {left} left open (claimed by an analyst, or no longer open)"
    return message
