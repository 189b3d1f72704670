"""CSRF protection: a synchronizer token kept in the signed session cookie.

Every form carries the session's token in a hidden ``csrf_token`` field, and every POST is
refused (403) unless the field matches the session's token (compared in constant time).
Another site can make a browser send our cookie, but it cannot read our pages, so it cannot
know the token; the session cookie is signed, so it cannot plant one either. SameSite=Lax on
the cookie is a second layer.

Why our own thirty lines and not a library: the CSRF middlewares for Starlette
(starlette-csrf, asgi-csrf) implement the double-submit cookie, which expects the token back
in a header set by JavaScript (or a cookie value copied into each form by script); these
pages are plain HTML forms that must work with JavaScript off, and the session already gives
us a server-verified place for the token.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import MutableMapping
from typing import Any

from markupsafe import Markup, escape
from starlette.datastructures import FormData
from starlette.requests import Request

from worker.triage.web.errors import Forbidden

FIELD = "csrf_token"
SESSION_KEY = "csrf"
STALE = "the form's CSRF token is missing or stale: reload the page and try again"
# Enough for the lead's bulk form over a page of checkboxes (page_size is at most 1000).
MAX_FORM_FIELDS = 1100

Session = MutableMapping[str, Any]


def csrf_token(session: Session) -> str:
    """The session's token, made on first use (the login form needs one before sign-in)."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str):
        token = new_csrf_token(session)
    return token


def new_csrf_token(session: Session) -> str:
    token = secrets.token_urlsafe(32)
    session[SESSION_KEY] = token
    return token


def csrf_field(session: Session) -> Markup:
    """The hidden input every form includes (``{{ csrf_field() }}`` in the templates)."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(
        FIELD, escape(csrf_token(session))
    )


async def checked_form(request: Request) -> FormData:
    """The POSTed form, once its token matches the session's; else ``Forbidden``."""
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    sent = form.get(FIELD)
    expected = request.session.get(SESSION_KEY)
    if not (isinstance(sent, str) and isinstance(expected, str)):
        raise Forbidden(STALE)
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden(STALE)
    return form
