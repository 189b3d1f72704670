"""``fraud-worker triage``: the pages, the queue consumer and the label publisher in one process.

The web server (uvicorn) runs in the main thread and owns SIGTERM/SIGINT; the consumer and the
publisher run in threads beside it. When the server stops, the consumer finishes its batch and
commits what it stored, the publisher finishes its round, and both leave. A part that fails
stops the whole process (exit 1), so that its supervisor restarts it, rather than leaving a
queue that looks fine and no longer fills.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Callable

import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from worker.settings import Settings
from worker.stack import process
from worker.triage.consumer import QueueConsumer
from worker.triage.db import connect, migrate
from worker.triage.metrics import TriageMetrics
from worker.triage.passwords import Passwords
from worker.triage.publisher import LabelPublisher
from worker.triage.store import QueueStore
from worker.triage.types import Role, TriageError, UserExists
from worker.triage.web.app import create_app

log = logging.getLogger(__name__)

SECRET_FILE = "secret_key"
STOP_WAIT_S = 30.0


def masked_url(url: str) -> str:
    """The database URL with its password hidden, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def open_store(settings: Settings) -> QueueStore:
    """The queue's store, its schema migrated to the newest revision."""
    url = settings.triage_database_url
    engine = connect(url)
    try:
        migrate(engine)
    except SQLAlchemyError as exc:
        raise TriageError(
            f"the triage database at {masked_url(url)} cannot be opened "
            f"({type(exc.orig if hasattr(exc, 'orig') else exc).__name__}): start it, or point "
            f"FRAUD_TRIAGE__DATABASE_URL at one that answers"
        ) from exc
    return QueueStore(engine, settings.triage.claim_ttl_s)


def session_secret(settings: Settings) -> str:
    """The key that signs session cookies: the configured one, else one generated once into
    the data dir (0600), so that sessions survive a restart."""
    if settings.triage.secret_key:
        return settings.triage.secret_key
    path = settings.triage.data_dir / SECRET_FILE
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(key)
    return key


def ensure_user(store: QueueStore, username: str, password: str, role: Role) -> None:
    """Create the account, or set its password when it exists (the demo's accounts)."""
    hashed = Passwords().hash(password)
    try:
        store.add_user(username, hashed, role)
    except UserExists:
        store.set_password(username, hashed)


class TriageService:
    """One triage process: pages, consumer, publisher."""

    def __init__(self, settings: Settings, store: QueueStore | None = None) -> None:
        self.settings = settings
        options = settings.triage
        self.store = store or open_store(settings)
        self.metrics = TriageMetrics(self.store)
        self.consumer = QueueConsumer(settings, self.store, self.metrics)
        self.publisher = LabelPublisher(settings, self.store, self.metrics)
        app = create_app(
            self.store,
            options,
            secret_key=session_secret(settings),
            metrics_registry=self.metrics.registry,
            ready=self.not_ready_because,
            metrics=self.metrics,
        )
        config = uvicorn.Config(
            app, host=options.host, port=options.port, log_config=None, access_log=False
        )
        self.server = uvicorn.Server(config)
        self.failed: str | None = None

    @property
    def url(self) -> str:
        return f"http://{self.settings.triage.host}:{self.settings.triage.port}/"

    def not_ready_because(self) -> str | None:
        """Why the process should get no traffic yet (None: ready)."""
        try:
            self.store.ping()
        except SQLAlchemyError as exc:
            return f"the queue's database does not answer ({type(exc).__name__})"
        if self.failed:
            return f"the {self.failed} stopped"
        return self.consumer.health.not_ready_because()

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT (or a part fails); 0 after a clean stop, else 1."""
        options = self.settings.triage
        process.require_free_port(
            options.port, "the triage app", "FRAUD_TRIAGE__PORT", options.host
        )
        runs = {"consumer": self.consumer.run, "publisher": self.publisher.run}
        parts = [
            threading.Thread(target=self._guard, args=part, name=f"triage-{part[0]}", daemon=True)
            for part in runs.items()
        ]
        for part in parts:
            part.start()
        log.info("triage app on %s", self.url)
        try:
            self.server.run()
        finally:
            self.consumer.stop()
            self.publisher.stop()
            for part in parts:
                part.join(STOP_WAIT_S)
        return 1 if self.failed else 0

    def _guard(self, name: str, run: Callable[[], object]) -> None:
        try:
            run()
        except Exception:
            log.exception("the triage %s failed; stopping the app", name)
            self.failed = name
            self.server.should_exit = True
