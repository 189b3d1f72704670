"""Templates (Jinja2, autoescaped), the flash line, and the error pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from worker.triage.types import NotFound, TriageError
from worker.triage.web.csrf import csrf_field
from worker.triage.web.errors import PageError
from worker.triage.web.formatting import FILTERS
from worker.triage.web.headers import SECURITY_HEADERS
from worker.triage.web.state import web_state

TEMPLATES_DIR = Path(__file__).parent / "templates"
FLASH_KEY = "flash"
_HTTP_ERRORS = {
    404: "no such page: go back to the queue",
    405: "this address does not take that request: use the page's links and buttons",
    413: "the form is too large: tick fewer items and send it again",
}
SERVER_ERROR = "something went wrong on our side (the app's log says what): try again"


def make_templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,  # every value is escaped: event fields and notes are untrusted text
        undefined=jinja2.StrictUndefined,  # a misspelt name fails the page (and its test)
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    return Jinja2Templates(env=env, context_processors=[_page_context])


def _page_context(request: Request) -> dict[str, Any]:
    """What the layout shows on every page: who is signed in, the flash, the CSRF field."""
    session = request.session
    return {
        "user": getattr(request.state, "user", None),
        "flash": session.pop(FLASH_KEY, None),
        "csrf_field": lambda: csrf_field(session),
    }


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    templates = web_state(request).templates
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def flash(request: Request, message: str) -> None:
    """One line shown on the next page (``#flash``): what the last action did."""
    request.session[FLASH_KEY] = message


def redirect(path: str) -> RedirectResponse:
    """After a POST: 303, so the browser GETs the next page (a reload does not resend)."""
    return RedirectResponse(path, status_code=303)


def error_page(request: Request, status_code: int, message: str) -> Response:
    return render(request, "error.html", {"message": message}, status_code=status_code)


async def page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    return error_page(request, exc.status_code, exc.message)


async def store_refusal(request: Request, exc: Exception) -> Response:
    """The store's refusals: 404 for an item that is not there, 409 for the rest (claimed by
    someone else, not claimed, already closed)."""
    assert isinstance(exc, TriageError)
    if isinstance(exc, NotFound):
        return error_page(request, 404, str(exc) or "no such item: go back to the queue")
    return error_page(request, 409, str(exc) or "the item changed meanwhile: reload it")


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_page(request, exc.status_code, _HTTP_ERRORS.get(exc.status_code, str(exc.detail)))


async def login_required(request: Request, exc: Exception) -> Response:
    """To the login page, which comes back here (a page; after a form, to the queue)."""
    if request.method != "GET":
        return redirect("/login")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return redirect("/login?" + urlencode({"next": target}, safe="/"))


async def server_error(request: Request, exc: Exception) -> Response:
    """Plain text (the templates may be what failed), with the security headers this
    response would otherwise miss (it is made outside the app's middleware). The server
    logs the traceback."""
    return PlainTextResponse(SERVER_ERROR + "\n", status_code=500, headers=SECURITY_HEADERS)
