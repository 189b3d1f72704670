"""The refusals a page answers with: one line each, naming the fix."""

from __future__ import annotations


class PageError(Exception):
    """Shown as the error page (``#error``) with this status."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(PageError):
    status_code = 400


class Forbidden(PageError):
    status_code = 403


class LoginRequired(Exception):
    """Not signed in (or the account is gone): the page redirects to the login page."""


LEADS_ONLY = "this page is for leads only: ask a lead"
