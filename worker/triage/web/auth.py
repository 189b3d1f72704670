"""Who is signed in, and the guards every page and form goes through.

The session (a signed cookie) names the user; the account is read again on each request, so
a deactivated account or a changed role takes effect at once, not when the cookie expires.
Pages are declared with ``page`` (GET) and forms with ``action`` (POST): both check the
sign-in and the role, ``action`` the CSRF token too, so no handler can forget either.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from worker.triage.types import Role
from worker.triage.web.csrf import checked_form, new_csrf_token
from worker.triage.web.errors import LEADS_ONLY, Forbidden, LoginRequired
from worker.triage.web.state import in_thread, web_state

USERNAME_KEY = "username"
ROLE_KEY = "role"


@dataclass(frozen=True)
class SessionUser:
    username: str
    role: Role

    @property
    def is_lead(self) -> bool:
        return self.role is Role.LEAD


PageEndpoint = Callable[[Request, SessionUser], Awaitable[Response]]
ActionEndpoint = Callable[[Request, SessionUser, FormData], Awaitable[Response]]


def start_session(session: dict[str, Any], username: str, role: Role) -> None:
    """A fresh session at sign-in (nothing carried over, a new CSRF token): a session id or
    token an attacker planted before the sign-in is worth nothing after it."""
    session.clear()
    session[USERNAME_KEY] = username
    session[ROLE_KEY] = role.value
    new_csrf_token(session)


async def signed_in(request: Request, role: Role = Role.ANALYST) -> SessionUser:
    """The signed-in user, allowed ``role``'s pages; else ``LoginRequired`` / ``Forbidden``."""
    username = request.session.get(USERNAME_KEY)
    if not isinstance(username, str):
        raise LoginRequired
    account = await in_thread(web_state(request).store.user, username)
    if account is None or not account.active:
        request.session.clear()
        raise LoginRequired
    user = SessionUser(account.username, account.role)
    request.state.user = user  # the templates show who is signed in
    if role is Role.LEAD and not user.is_lead:
        raise Forbidden(LEADS_ONLY)
    return user


def page(path: str, endpoint: PageEndpoint, *, role: Role = Role.ANALYST) -> Route:
    """A GET page for signed-in users of ``role`` (an analyst's pages: a lead's too)."""

    async def guarded(request: Request) -> Response:
        return await endpoint(request, await signed_in(request, role))

    return Route(path, guarded, methods=["GET"], name=endpoint.__name__)


def action(path: str, endpoint: ActionEndpoint, *, role: Role = Role.ANALYST) -> Route:
    """A POSTed form for signed-in users of ``role``, its CSRF token checked."""

    async def guarded(request: Request) -> Response:
        user = await signed_in(request, role)
        return await endpoint(request, user, await checked_form(request))

    return Route(path, guarded, methods=["POST"], name=endpoint.__name__)
