"""``fraud-worker triage``: the analysts' web app over the review queue.

The data path, in the folder layout:

- ``consumer.py``: the review (and degraded) topics → the queue's database, idempotent, offsets
  committed only after the items are stored;
- ``store.py`` over ``db/`` (SQLAlchemy 2 tables, Alembic migrations): the queue, claims,
  decisions, the audit trail, users — SQLite by default, PostgreSQL when configured;
- ``web/``: the pages (Starlette + Jinja2), logins, sessions, CSRF, roles;
- ``publisher.py``: each decision → one label on ``transactions.labels``, exactly once;
- ``service.py``: all of it in one process, stopped in order.
"""
