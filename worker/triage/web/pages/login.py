"""Sign-in and sign-out."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from worker.triage.db.tables import NAME_CHARS
from worker.triage.types import User
from worker.triage.web.auth import start_session
from worker.triage.web.csrf import checked_form
from worker.triage.web.forms import form_text
from worker.triage.web.rendering import flash, redirect, render
from worker.triage.web.state import WebState, in_thread, web_state

log = logging.getLogger(__name__)

WRONG_LOGIN = "wrong username or password"
MAX_USERNAME = NAME_CHARS  # what the audit trail's column holds
MAX_PASSWORD = 1024  # argon2 takes any length; this only bounds the work one request costs


async def login_page(request: Request) -> Response:
    return _login_form(request, next_path=safe_next(request.query_params.get("next")))


async def login(request: Request) -> Response:
    form = await checked_form(request)
    username = form_text(form, "username")[:MAX_USERNAME]
    password = form_text(form, "password")[:MAX_PASSWORD]
    next_path = safe_next(form_text(form, "next"))
    state = web_state(request)
    account = await in_thread(state.store.user, username) if username else None
    matches = await _password_matches(state, account, password)  # for unknown names too
    if account is None or not matches:
        await _record_failure(state, username, exists=account is not None)
        return _login_form(request, next_path, error=WRONG_LOGIN, username=username)
    if state.passwords.needs_rehash(account.password_hash):
        new_hash = await in_thread(state.passwords.hash, password)
        await in_thread(state.store.set_password, account.username, new_hash)
    start_session(request.session, account.username, account.role)
    await in_thread(state.store.audit, account.username, "login")
    log.info("login: %s (%s)", account.username, account.role)
    return redirect(next_path)


async def logout(request: Request) -> Response:
    await checked_form(request)
    username = request.session.get("username")
    request.session.clear()
    if isinstance(username, str):
        log.info("logout: %s", username)
    flash(request, "signed out")
    return redirect("/login")


async def _password_matches(state: WebState, account: User | None, password: str) -> bool:
    """Whether the password is the account's; every attempt costs one argon2 verify, for an
    unknown or inactive account too (the dummy hash), so timing does not tell them apart."""
    usable = account is not None and account.active
    stored_hash = account.password_hash if account is not None and usable else None
    matches = await in_thread(state.passwords.verify, stored_hash, password)
    return matches and usable


async def _record_failure(state: WebState, username: str, exists: bool) -> None:
    """In the audit trail as typed; in the log only a username that exists (what is typed
    in the username field is sometimes a password)."""
    await in_thread(state.store.audit, username, "login_failed")
    log.info("login failed for %s", username if exists else "an unknown username")


def _login_form(
    request: Request, next_path: str, error: str | None = None, username: str = ""
) -> Response:
    context = {"next_path": next_path, "error": error, "username": username}
    return render(request, "login.html", context, status_code=401 if error else 200)


def safe_next(path: str | None) -> str:
    """Where to go after signing in: a path of this site only (no open redirect)."""
    if not path or not path.startswith("/") or path.startswith(("//", "/\\")):
        return "/queue"
    return path
