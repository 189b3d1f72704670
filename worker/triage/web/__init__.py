"""The analysts' pages over the queue store (see ``app.py`` for the pages and their hooks)."""

from worker.triage.web.app import create_app

__all__ = ["create_app"]
