"""The triage web app: Starlette, server-rendered Jinja2 pages, a little plain JavaScript.

Every page but /login, /static, /healthz, /readyz and /metrics needs a signed-in user;
every form is CSRF-checked (``csrf.py``); roles are checked on the server (``auth.py``).

Stable hooks for browser tests (and for anyone scripting the pages):

- every page: ``#flash`` (what the last action did), ``#error`` (an error page's one line),
  ``[data-testid=whoami]``, ``#logout``, ``#shortcuts`` (the keyboard legend; ``?`` toggles
  it), ``body[data-page]`` (login | queue | item | stats | error);
- login: ``#login`` (the form), ``input[name=username]``, ``input[name=password]``,
  ``#login-submit``;
- queue: ``#queue`` (the table), ``[data-testid=queue-row]`` with ``data-item-id``,
  ``data-transaction-id``, ``data-priority``, ``data-claimed-by``; in a row
  ``[data-testid=open-item]`` (its link), ``[data-testid=score]``, ``[data-testid=amount]``;
  ``#queue-total`` (``data-total``), ``#queue-empty`` (nothing matches), ``#filters`` (the
  form, its fields named as the query parameters), ``[data-testid=facet-count]`` with
  ``data-facet``, ``data-value`` and ``data-count``, ``#tab-review``, ``#tab-degraded``,
  ``#next-open``, ``#page-prev``, ``#page-next``; on the degraded tab for a lead:
  ``#close-degraded`` (the form of the rows' ``input[name=item_id]`` checkboxes, button
  ``#close-selected``) and ``#close-all-degraded`` (a form, button ``#close-all``);
- item: ``#item`` with ``data-item-id``, ``data-transaction-id``, ``data-status``,
  ``data-claimed-by``; ``[data-field=<event field>]`` (amount, merchant_category, channel,
  country, entry_mode, cardholder_verified, account_age_days, is_international,
  has_international_history, event_time_ms, card_id, terminal_id, transaction_id),
  ``[data-result=<field>]`` (score, decision, source, model_version, confidence, priority,
  scored_at_ms), ``#reasons``, ``#review-reasons``, ``#failed-dependencies``,
  ``#input-flags``, ``#superseded``, ``#card-history`` and ``#terminal-history`` (rows
  ``[data-testid=history-row]`` with ``data-item-id``), ``#audit`` (rows
  ``[data-testid=audit-row]`` with ``data-action``); ``#claim-state``, ``#claim`` (shown
  while the item is open, also when another analyst holds it: pressing it then is the 409
  page), ``#release`` (one's own claim); ``#decide`` (the form; its fieldset is disabled
  until one holds the claim), ``input[name=outcome]`` (ids ``outcome-fraud``,
  ``outcome-legitimate``, ``outcome-unsure``), ``select[name=reason_code]``
  (``#reason_code``), ``#note``, ``#decide-submit``; ``#decision`` with ``data-outcome``
  and ``data-label-state`` once decided; ``#back-to-queue``, ``#next-item``;
- stats: ``#stats``, ``[data-stat=<name>]`` (open_review, open_degraded, oldest_open_age,
  review_precision, block_precision), ``#decisions-per-hour`` (an SVG of ``rect`` with
  ``data-hour`` and ``data-decisions``), ``#judged``.

Errors: 400 (a bad query value or form field), 401 (a wrong sign-in), 403 (CSRF, or a lead's
page), 404, 409 (the store's refusals: claimed by another, not claimed, already closed) are
the error page with its one line in ``#error``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from worker.settings import TriageSettings
from worker.triage.passwords import Passwords
from worker.triage.store import QueueStore
from worker.triage.types import Role, TriageError
from worker.triage.web.auth import action, page
from worker.triage.web.errors import LoginRequired, PageError
from worker.triage.web.headers import SecurityHeaders
from worker.triage.web.pages import items, login, ops, queue, stats
from worker.triage.web.rendering import (
    http_error,
    login_required,
    make_templates,
    page_error,
    server_error,
    store_refusal,
)
from worker.triage.web.state import DecisionCounter, WebState

STATIC_DIR = Path(__file__).parent / "static"
SESSION_COOKIE = "triage_session"
# Forms are small; the largest is a lead's bulk close over one page of checkboxes.
MAX_BODY_BYTES = 256 * 1024


def create_app(
    store: QueueStore,
    settings: TriageSettings,
    *,
    secret_key: str,
    metrics_registry: CollectorRegistry | None = None,
    ready: Callable[[], str | None] | None = None,
    metrics: DecisionCounter | None = None,
    passwords: Passwords | None = None,
) -> Starlette:
    """The app over ``store``. ``secret_key`` signs the session cookies (the caller resolves
    it: ``settings.secret_key`` or the generated one); ``ready`` says why the app is not
    ready (None: ready) for /readyz; ``metrics`` counts the decisions taken here;
    ``passwords``: tests pass a cheap hasher."""
    app = Starlette(
        routes=_routes(),
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(
                SessionMiddleware,
                secret_key=secret_key,
                session_cookie=SESSION_COOKIE,
                max_age=settings.session_max_age_s,
                same_site="lax",
                https_only=settings.https_only,
            ),
        ],
        exception_handlers={
            LoginRequired: login_required,
            PageError: page_error,
            TriageError: store_refusal,
            HTTPException: http_error,
            500: server_error,
        },
        max_body_size=MAX_BODY_BYTES,
    )
    app.state.triage = WebState(
        store=store,
        settings=settings,
        passwords=passwords or Passwords(),
        templates=make_templates(),
        metrics_registry=metrics_registry,
        metrics=metrics,
        ready=ready,
    )
    return app


def _routes() -> list[BaseRoute]:
    return [
        Route("/", queue_redirect, methods=["GET"]),
        Route("/login", login.login_page, methods=["GET"]),
        Route("/login", login.login, methods=["POST"]),
        Route("/logout", login.logout, methods=["POST"]),
        page("/queue", queue.queue_page),
        page("/queue/next", queue.queue_next),
        action("/queue/close-degraded", queue.close_degraded, role=Role.LEAD),
        page("/items/{item_id:int}", items.item_page),
        action("/items/{item_id:int}/claim", items.claim),
        action("/items/{item_id:int}/release", items.release),
        action("/items/{item_id:int}/decide", items.decide),
        page("/stats", stats.stats_page, role=Role.LEAD),
        Route("/metrics", ops.metrics, methods=["GET"]),
        Route("/healthz", ops.healthz, methods=["GET"]),
        Route("/readyz", ops.readyz, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]


async def queue_redirect(request: Request) -> Response:
    return RedirectResponse("/queue", status_code=303)
