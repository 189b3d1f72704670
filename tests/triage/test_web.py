"""The triage pages over a real queue store (SQLite in a temporary folder), driven through
Starlette's TestClient: sign-in, CSRF, roles, the queue and its filters, an item, claims,
decisions, the lead's bulk close and stats, the machines' endpoints, the security headers."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import httpx2
import pytest
from argon2 import PasswordHasher, profiles
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.triage.factories import (
    BASE_MS,
    Clock,
    degraded,
    incoming,
    migrated_store,
    rescore_of,
    sqlite_url,
)
from worker.settings import TriageSettings
from worker.triage.metrics import TriageMetrics
from worker.triage.passwords import Passwords
from worker.triage.store import AUDIT, QueueStore
from worker.triage.types import (
    IncomingItem,
    Kind,
    LabelState,
    Outcome,
    QueueFilter,
    Role,
    Status,
)
from worker.triage.web import create_app
from worker.triage.web.csrf import STALE

PASSWORD = "correct horse battery staple"
CHEAP_HASHER = PasswordHasher.from_parameters(profiles.CHEAPEST)
FAST = Passwords(CHEAP_HASHER)
SECRET_KEY = "test-secret-key-" + "x" * 32


# --- a little HTML reading -------------------------------------------------------------------
@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    texts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join("".join(self.texts).split())


class Page(HTMLParser):
    """The elements of a page, in document order, each with its text (its descendants')."""

    VOID = frozenset({"input", "meta", "link", "br", "hr", "img", "line", "rect"})

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.elements.append(element)
        if tag not in self.VOID:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self._open and self._open.pop().tag != tag:
            pass

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.texts.append(data)

    def all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        """The elements of ``tag`` (any if None) with these attributes (``data_x``: data-x)."""
        wanted = {name.replace("_", "-"): value for name, value in attrs.items()}
        return [
            e
            for e in self.elements
            if (tag is None or e.tag == tag) and all(e.attrs.get(k) == v for k, v in wanted.items())
        ]

    def one(self, tag: str | None = None, **attrs: str) -> Element:
        found = self.all(tag, **attrs)
        assert len(found) == 1, f"{len(found)} {tag or 'elements'} with {attrs}"
        return found[0]

    def has(self, tag: str | None = None, **attrs: str) -> bool:
        return bool(self.all(tag, **attrs))

    def row_ids(self) -> list[int]:
        return [int(row.attrs["data-item-id"]) for row in self.all(data_testid="queue-row")]


def csrf_token_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


# --- the app over a real store ---------------------------------------------------------------
@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[QueueStore]:
    with migrated_store(sqlite_url(tmp_path), clock) as store:
        for username, role in (
            ("alice", Role.ANALYST),
            ("bob", Role.ANALYST),
            ("lena", Role.LEAD),
        ):
            store.add_user(username, FAST.hash(PASSWORD), role)
        yield store


@dataclass
class Readiness:
    why_not: str | None = None

    def __call__(self) -> str | None:
        return self.why_not


@pytest.fixture
def readiness() -> Readiness:
    return Readiness()


@pytest.fixture
def metrics(store: QueueStore) -> TriageMetrics:
    return TriageMetrics(store)


@pytest.fixture
def app(store: QueueStore, metrics: TriageMetrics, readiness: Readiness) -> Starlette:
    settings = TriageSettings(page_size=3)
    return create_app(
        store,
        settings,
        secret_key=SECRET_KEY,
        metrics_registry=metrics.registry,
        ready=readiness,
        metrics=metrics,
        passwords=FAST,
    )


Browser = Callable[..., TestClient]


@pytest.fixture
def browser(app: Starlette) -> Iterator[Browser]:
    """A new browser (its own cookies) per call, signed in as ``username`` if given."""
    clients: list[TestClient] = []

    def open_browser(username: str | None = None) -> TestClient:
        client = TestClient(app, follow_redirects=False)
        clients.append(client)
        if username is not None:
            response = log_in(client, username, PASSWORD)
            assert response.status_code == 303, response.text
        return client

    yield open_browser
    for client in clients:
        client.close()


def log_in(client: TestClient, username: str, password: str) -> httpx2.Response:
    token = csrf_token_of(client.get("/login").text)
    form = {"username": username, "password": password, "csrf_token": token}
    return client.post("/login", data=form)


def submit(client: TestClient, page_path: str, action: str, **fields: str) -> httpx2.Response:
    """POST a form of ``page_path`` the way a browser would: with the page's CSRF token."""
    token = csrf_token_of(client.get(page_path).text)
    return client.post(action, data={**fields, "csrf_token": token})


def audit_actions(store: QueueStore) -> list[tuple[str, str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(AUDIT.c.username, AUDIT.c.action).order_by(AUDIT.c.id))
        return [(row.username, row.action) for row in rows]


# --- sign-in, sessions, CSRF -----------------------------------------------------------------
def test_the_right_password_signs_in_and_opens_the_queue(
    browser: Browser, store: QueueStore
) -> None:
    client = browser()
    response = log_in(client, "alice", PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/queue"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "max-age=28800" in cookie
    queue = client.get("/queue")
    assert queue.status_code == 200
    assert Page(queue.text).one(data_testid="whoami").text == "alice · analyst"
    assert ("alice", "login") in audit_actions(store)


@pytest.mark.parametrize("username", ["alice", "nobody"])
def test_a_wrong_username_or_password_is_a_401_with_one_line(
    browser: Browser, store: QueueStore, username: str
) -> None:
    client = browser()
    response = log_in(client, username, "not the password")
    assert response.status_code == 401
    assert Page(response.text).one(id="error").text == "wrong username or password"
    assert client.get("/queue").status_code == 303  # still signed out
    assert (username, "login_failed") in audit_actions(store)


def test_an_unknown_username_costs_a_password_check_too(store: QueueStore) -> None:
    checked: list[str | None] = []

    class Counting(Passwords):
        def verify(self, password_hash: str | None, password: str) -> bool:
            checked.append(password_hash)
            return super().verify(password_hash, password)

    app = create_app(
        store, TriageSettings(), secret_key=SECRET_KEY, passwords=Counting(CHEAP_HASHER)
    )
    with TestClient(app, follow_redirects=False) as client:
        assert log_in(client, "nobody", PASSWORD).status_code == 401
        assert log_in(client, "alice", "wrong").status_code == 401
    assert len(checked) == 2 and checked[0] is None and checked[1] is not None


def test_signing_in_starts_a_new_session_with_a_new_csrf_token(browser: Browser) -> None:
    client = browser()
    before = csrf_token_of(client.get("/login").text)
    log_in(client, "alice", PASSWORD)
    after = csrf_token_of(client.get("/queue").text)
    assert before != after
    # The token from before the sign-in no longer works.
    refused = client.post("/logout", data={"csrf_token": before})
    assert refused.status_code == 403


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_a_form_without_the_sessions_csrf_token_is_refused(
    browser: Browser, store: QueueStore, token: str | None
) -> None:
    (item,) = _ids(store, [incoming("tx-a")])
    client = browser("alice")
    data = {} if token is None else {"csrf_token": token}
    response = client.post(f"/items/{item}/claim", data=data)
    assert response.status_code == 403
    assert Page(response.text).one(id="error").text == STALE
    assert store.item(item).row.claimed_by is None


def test_the_login_form_needs_its_csrf_token_too(browser: Browser) -> None:
    client = browser()
    client.get("/login")
    response = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 403
    assert client.get("/queue").status_code == 303


@pytest.mark.parametrize("path", ["/queue", "/queue/next", "/items/1", "/stats"])
def test_pages_send_a_signed_out_browser_to_the_login_page(browser: Browser, path: str) -> None:
    response = browser().get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_after_signing_in_the_browser_goes_back_to_the_page_it_asked_for(
    browser: Browser, store: QueueStore
) -> None:
    (item,) = _ids(store, [incoming("tx-a")])
    client = browser()
    asked = client.get(f"/items/{item}")
    login_page = client.get(asked.headers["location"])
    token = csrf_token_of(login_page.text)
    next_path = Page(login_page.text).one(name="next").attrs["value"]
    response = client.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": token, "next": next_path},
    )
    assert response.headers["location"] == f"/items/{item}"


@pytest.mark.parametrize("next_path", ["https://evil.example/", "//evil.example/x", "queue"])
def test_the_login_never_redirects_off_the_site(browser: Browser, next_path: str) -> None:
    client = browser()
    token = csrf_token_of(client.get("/login").text)
    response = client.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": token, "next": next_path},
    )
    assert response.headers["location"] == "/queue"


def test_signing_out_ends_the_session(browser: Browser) -> None:
    client = browser("alice")
    response = submit(client, "/queue", "/logout")
    assert response.headers["location"] == "/login"
    assert client.get("/queue").status_code == 303


def test_a_forged_session_cookie_is_not_a_session(app: Starlette, store: QueueStore) -> None:
    other = create_app(
        store, TriageSettings(), secret_key="another-key-" + "y" * 32, passwords=FAST
    )
    with TestClient(other, follow_redirects=False) as forger:
        assert log_in(forger, "lena", PASSWORD).status_code == 303
        cookies = dict(forger.cookies)
    with TestClient(app, follow_redirects=False, cookies=cookies) as client:
        assert client.get("/stats").status_code == 303


# --- the queue -------------------------------------------------------------------------------
def _ids(store: QueueStore, items: list[IncomingItem]) -> list[int]:
    """Store ``items`` and return their item ids, in the order given."""
    store.store_items(items)
    page = store.queue(QueueFilter(), limit=1000)
    degraded_page = store.queue(QueueFilter(kind=Kind.DEGRADED), limit=1000)
    by_transaction = {row.transaction_id: row.id for row in [*page.rows, *degraded_page.rows]}
    return [by_transaction[item.transaction_id] for item in items]


def test_the_queue_lists_items_riskiest_first_with_their_details(
    browser: Browser, store: QueueStore
) -> None:
    low, high, mid = _ids(
        store,
        [
            incoming("tx-low", score=0.6, amount=10.0),
            incoming("tx-high", score=0.9, amount=900.0, country="US"),
            incoming("tx-mid", score=0.7, amount=100.0),
        ],
    )
    page = Page(browser("alice").get("/queue").text)
    assert page.row_ids() == [high, mid, low]
    first = page.all(data_testid="queue-row")[0]
    assert first.attrs["data-transaction-id"] == "tx-high"
    assert "900.00 EUR" in first.text and "electronics" in first.text and "US" in first.text
    assert page.all(data_testid="score")[0].attrs["class"] == "badge score-high"
    assert page.one(id="queue-total").attrs["data-total"] == "3"
    facet = page.one(data_testid="facet-count", data_facet="decision", data_value="review")
    assert facet.attrs["data-count"] == "3"


def test_the_queue_sorts_by_age_too(browser: Browser, store: QueueStore) -> None:
    old, new = _ids(
        store,
        [
            incoming("tx-old", score=0.9, scored_at_ms=BASE_MS),
            incoming("tx-new", score=0.6, scored_at_ms=BASE_MS + 60_000),
        ],
    )
    client = browser("alice")
    assert Page(client.get("/queue?sort=newest").text).row_ids() == [new, old]
    assert Page(client.get("/queue?sort=oldest").text).row_ids() == [old, new]


def test_the_queue_filters_by_decision_country_and_amount(
    browser: Browser, store: QueueStore
) -> None:
    review_fr, block_us, review_us_big = _ids(
        store,
        [
            incoming("tx-1", decision="review", country="FR", amount=50.0),
            incoming("tx-2", decision="block", country="US", amount=80.0, score=0.95),
            incoming("tx-3", decision="review", country="US", amount=700.0),
        ],
    )
    client = browser("alice")

    def ids(query: str) -> list[int]:
        response = client.get(f"/queue?{query}")
        assert response.status_code == 200, response.text
        return sorted(Page(response.text).row_ids())

    assert ids("decision=block") == [block_us]
    assert ids("country=us") == sorted([block_us, review_us_big])
    assert ids("min_amount=60&max_amount=100") == [block_us]
    assert ids("decision=review&country=US") == [review_us_big]
    assert ids("min_amount=&country=") == sorted([review_fr, block_us, review_us_big])
    filtered = Page(client.get("/queue?decision=block").text)
    assert filtered.one(id="queue-total").attrs["data-total"] == "1"
    # The form keeps the filters it applied.
    assert filtered.one(name="decision").tag == "select"
    assert filtered.one(tag="option", value="block").attrs.get("selected") == ""


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("min_amount=lots", "min_amount"),
        ("max_amount=-5", "max_amount"),
        ("decision=maybe", "decision"),
        ("source=oracle", "source"),
        ("sort=random", "sort"),
        ("page=0", "page"),
        ("page=²", "page"),
        ("country=United+States", "country"),
        ("max_age_h=nan", "max_age_h"),
        ("kind=all", "kind"),
        ("reason=%3Cscript%3E", "reason"),
        ("min_amount=10&max_amount=5", "min_amount"),
    ],
)
def test_a_bad_query_value_is_a_400_naming_the_parameter(
    browser: Browser, query: str, parameter: str
) -> None:
    response = browser("alice").get(f"/queue?{query}")
    assert response.status_code == 400
    message = Page(response.text).one(id="error").text
    assert message.startswith(parameter) and ":" in message
    assert "<script>" not in response.text


def test_the_queue_pages_through_a_long_queue(browser: Browser, store: QueueStore) -> None:
    ids = _ids(store, [incoming(f"tx-{i}", score=0.9 - i / 100) for i in range(5)])
    client = browser("alice")
    first = Page(client.get("/queue").text)
    assert first.row_ids() == ids[:3]
    second = Page(client.get(first.one(id="page-next").attrs["href"]).text)
    assert second.row_ids() == ids[3:]
    assert second.has(id="page-prev") and not second.has(id="page-next")


def test_the_degraded_tab_lists_degraded_only_items(browser: Browser, store: QueueStore) -> None:
    review, quiet = _ids(store, [incoming("tx-r"), degraded("tx-d")])
    client = browser("alice")
    assert Page(client.get("/queue").text).row_ids() == [review]
    page = Page(client.get("/queue?kind=degraded").text)
    assert page.row_ids() == [quiet]
    assert not page.has(id="close-all-degraded")  # an analyst's view has no bulk forms


def test_next_opens_the_first_open_item_nobody_else_holds(
    browser: Browser, store: QueueStore
) -> None:
    high, low = _ids(store, [incoming("tx-h", score=0.9), incoming("tx-l", score=0.6)])
    store.claim(high, "bob")
    client = browser("alice")
    assert client.get("/queue/next").headers["location"] == f"/items/{low}"
    store.claim(low, "bob")
    response = client.get("/queue/next")
    assert response.headers["location"] == "/queue"
    assert "the queue is clear" in Page(client.get("/queue").text).one(id="flash").text


# --- an item ---------------------------------------------------------------------------------
def test_the_item_page_shows_the_event_the_score_and_the_context(
    browser: Browser, store: QueueStore
) -> None:
    item, same_card, same_terminal = _ids(
        store,
        [
            incoming("tx-a", amount=432.1, country="US", source="fallback", score=0.85),
            incoming("tx-b", card_id="card-1", terminal_id="term-9"),
            incoming("tx-c", card_id="card-7", terminal_id="term-1"),
        ],
    )
    response = browser("alice").get(f"/items/{item}")
    assert response.status_code == 200
    page = Page(response.text)
    root = page.one(id="item")
    assert root.attrs["data-transaction-id"] == "tx-a" and root.attrs["data-status"] == "open"
    shown = {e.attrs["data-field"]: e.text for e in page.all() if "data-field" in e.attrs}
    assert shown["amount"] == "432.10 EUR"
    assert shown["merchant_category"] == "electronics"
    assert shown["channel"] == "ecommerce"
    assert shown["country"] == "US"
    assert shown["entry_mode"] == "ecommerce"
    assert shown["cardholder_verified"] == "no"
    assert shown["account_age_days"] == "40 d"
    assert shown["is_international"] == "yes"
    assert shown["card_id"] == "card-1"
    assert page.one(data_result="score").text == "0.850"
    assert page.one(data_result="source").text == "fallback (degraded)"
    assert page.one(data_result="model_version").text == "primary-test"
    assert "redis" in page.one(id="failed-dependencies").text
    assert "decision:review" in page.one(id="review-reasons").text
    card_rows = page.one(id="card-history")
    assert card_rows.tag == "table"
    history = {int(e.attrs["data-item-id"]) for e in page.all(data_testid="history-row")}
    assert {same_card, same_terminal} <= history
    assert [o.attrs["value"] for o in page.all(name="outcome")] == [
        "fraud",
        "legitimate",
        "unsure",
    ]
    assert page.one(tag="fieldset").attrs.get("disabled") == ""  # not claimed yet


def test_a_rescored_item_shows_the_degraded_answer_it_replaced(
    browser: Browser, store: QueueStore
) -> None:
    first = degraded("tx-a", score=0.3)
    store.store_items([first, rescore_of(first, score=0.93)])
    (item,) = [row.id for row in store.queue(QueueFilter()).rows]
    page = Page(browser("alice").get(f"/items/{item}").text)
    assert page.one(data_result="score").text == "0.930"
    assert page.one(id="superseded").text == (
        "Re-scored: the earlier degraded answer was allow at 0.30 from fallback "
        "(2026-05-28 20:26:40 UTC)."
    )


def test_an_unknown_item_is_a_404(browser: Browser) -> None:
    client = browser("alice")
    response = client.get("/items/999")
    assert response.status_code == 404
    assert Page(response.text).one(id="error").text
    assert client.get("/items/99999999999999999999999").status_code == 404


def test_a_claimed_item_cannot_be_claimed_by_a_second_analyst(
    browser: Browser, store: QueueStore
) -> None:
    (item,) = _ids(store, [incoming("tx-a")])
    alice, bob = browser("alice"), browser("bob")
    claimed = submit(alice, f"/items/{item}", f"/items/{item}/claim")
    assert claimed.headers["location"] == f"/items/{item}"
    page = Page(alice.get(f"/items/{item}").text)
    assert page.one(id="flash").text.startswith("claimed: yours until")
    assert page.one(id="item").attrs["data-claimed-by"] == "alice"
    assert page.one(tag="fieldset").attrs.get("disabled") is None
    refused = submit(bob, f"/items/{item}", f"/items/{item}/claim")
    assert refused.status_code == 409
    assert Page(refused.text).one(id="error").text == "claimed by alice; pick another item"
    assert store.item(item).row.claimed_by == "alice"


def test_a_released_item_can_be_claimed_by_another(browser: Browser, store: QueueStore) -> None:
    (item,) = _ids(store, [incoming("tx-a")])
    alice, bob = browser("alice"), browser("bob")
    submit(alice, f"/items/{item}", f"/items/{item}/claim")
    submit(alice, f"/items/{item}", f"/items/{item}/release")
    assert store.item(item).row.claimed_by is None
    assert submit(bob, f"/items/{item}", f"/items/{item}/claim").status_code == 303


def test_deciding_fraud_takes_the_item_off_the_queue_and_queues_its_label(
    browser: Browser, store: QueueStore
) -> None:
    first, second = _ids(store, [incoming("tx-a", score=0.9), incoming("tx-b", score=0.6)])
    client = browser("alice")
    client.get("/queue")
    submit(client, f"/items/{first}", f"/items/{first}/claim")
    decided = submit(
        client,
        f"/items/{first}",
        f"/items/{first}/decide",
        outcome="fraud",
        reason_code="stolen_card",
        note="cardholder called: <b>not them</b>",
    )
    assert decided.headers["location"] == f"/items/{second}"
    next_page = Page(client.get(f"/items/{second}").text)
    assert next_page.one(id="flash").text == "decided fraud: the label is on its way"
    assert Page(client.get("/queue").text).row_ids() == [second]
    detail = store.item(first)
    assert detail.row.status is Status.DECIDED
    assert detail.decision is not None
    assert detail.decision.outcome is Outcome.FRAUD
    assert detail.decision.reason_code == "stolen_card"
    assert detail.decision.note == "cardholder called: <b>not them</b>"
    assert detail.decision.decided_by == "alice"
    assert detail.decision.label_state is LabelState.PENDING
    shown = client.get(f"/items/{first}").text
    assert "&lt;b&gt;not them&lt;/b&gt;" in shown and "<b>not them</b>" not in shown
    decision = Page(shown).one(id="decision")
    assert decision.attrs["data-outcome"] == "fraud"
    assert decision.attrs["data-label-state"] == "pending"
    assert not Page(shown).has(id="decide")


def test_cant_tell_sends_no_label_and_the_last_decision_returns_to_the_queue(
    browser: Browser, store: QueueStore
) -> None:
    (item,) = _ids(store, [incoming("tx-a")])
    client = browser("alice")
    submit(client, f"/items/{item}", f"/items/{item}/claim")
    decided = submit(
        client,
        f"/items/{item}",
        f"/items/{item}/decide",
        outcome="unsure",
        reason_code="conflicting_signals",
    )
    assert decided.headers["location"] == "/queue"
    assert "no label" in Page(client.get("/queue").text).one(id="flash").text
    detail = store.item(item)
    assert detail.decision is not None and detail.decision.label_state is LabelState.NONE


def test_deciding_without_a_claim_is_a_409(browser: Browser, store: QueueStore) -> None:
    (item,) = _ids(store, [incoming("tx-a")])
    client = browser("alice")
    response = submit(
        client,
        f"/items/{item}",
        f"/items/{item}/decide",
        outcome="fraud",
        reason_code="stolen_card",
    )
    assert response.status_code == 409
    assert "claim the item" in Page(response.text).one(id="error").text
    assert store.item(item).row.status is Status.OPEN


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"reason_code": "stolen_card"}, "no outcome chosen"),
        ({"outcome": "closed", "reason_code": "degraded_only"}, "no outcome chosen"),
        ({"outcome": "legitimate", "reason_code": "stolen_card"}, "pick a reason code of"),
        ({"outcome": "fraud", "reason_code": "stolen_card", "note": "x" * 2001}, "the note"),
    ],
)
def test_a_bad_decision_form_is_a_400_and_changes_nothing(
    browser: Browser, store: QueueStore, fields: dict[str, str], message: str
) -> None:
    (item,) = _ids(store, [incoming("tx-a")])
    client = browser("alice")
    submit(client, f"/items/{item}", f"/items/{item}/claim")
    response = submit(client, f"/items/{item}", f"/items/{item}/decide", **fields)
    assert response.status_code == 400
    assert Page(response.text).one(id="error").text.startswith(message)
    assert store.item(item).row.status is Status.OPEN


def test_a_decided_item_cannot_be_claimed_again(browser: Browser, store: QueueStore) -> None:
    (item,) = _ids(store, [incoming("tx-a")])
    client = browser("alice")
    submit(client, f"/items/{item}", f"/items/{item}/claim")
    submit(
        client,
        f"/items/{item}",
        f"/items/{item}/decide",
        outcome="legitimate",
        reason_code="customer_confirmed",
    )
    token = csrf_token_of(client.get("/queue").text)
    response = client.post(f"/items/{item}/claim", data={"csrf_token": token})
    assert response.status_code == 409
    assert "already" in Page(response.text).one(id="error").text


def test_claims_and_decisions_through_the_pages_on_each_database(database_url: str) -> None:
    """The pages on SQLite and on the real PostgreSQL: one claim wins, the decision sticks."""
    with migrated_store(database_url) as store:
        for username in ("alice", "bob"):
            store.add_user(username, FAST.hash(PASSWORD), Role.ANALYST)
        (item,) = _ids(store, [incoming("tx-a")])
        app = create_app(store, TriageSettings(), secret_key=SECRET_KEY, passwords=FAST)
        with (
            TestClient(app, follow_redirects=False) as alice,
            TestClient(app, follow_redirects=False) as bob,
        ):
            log_in(alice, "alice", PASSWORD)
            log_in(bob, "bob", PASSWORD)
            assert submit(alice, f"/items/{item}", f"/items/{item}/claim").status_code == 303
            assert submit(bob, f"/items/{item}", f"/items/{item}/claim").status_code == 409
            decided = submit(
                alice,
                f"/items/{item}",
                f"/items/{item}/decide",
                outcome="legitimate",
                reason_code="customer_confirmed",
                note="called the cardholder",
            )
            assert decided.headers["location"] == "/queue"
            assert Page(bob.get("/queue").text).row_ids() == []
        decision = store.item(item).decision
        assert decision is not None and decision.label_state is LabelState.PENDING


# --- roles: bulk close and stats -------------------------------------------------------------
def test_an_analyst_can_neither_bulk_close_nor_see_the_stats(
    browser: Browser, store: QueueStore
) -> None:
    (quiet,) = _ids(store, [degraded("tx-d")])
    client = browser("alice")
    response = submit(client, "/queue", "/queue/close-degraded", all="1")
    assert response.status_code == 403
    assert store.item(quiet).row.status is Status.OPEN
    stats = client.get("/stats")
    assert stats.status_code == 403
    assert Page(stats.text).one(id="error").text == "this page is for leads only: ask a lead"
    assert not Page(client.get("/queue").text).has(href="/stats")


def test_a_lead_closes_ticked_or_all_degraded_only_items(
    browser: Browser, store: QueueStore
) -> None:
    one, two, three, review = _ids(
        store, [degraded("tx-1"), degraded("tx-2"), degraded("tx-3"), incoming("tx-r")]
    )
    client = browser("lena")
    page = Page(client.get("/queue?kind=degraded").text)
    assert page.has(id="close-all-degraded") and page.has(id="close-degraded")
    boxes = page.all(name="item_id")
    assert {int(b.attrs["value"]) for b in boxes} == {one, two, three}
    assert all(b.attrs["form"] == "close-degraded" for b in boxes)

    token = csrf_token_of(client.get("/queue?kind=degraded").text)
    ticked = client.post(
        "/queue/close-degraded", data={"csrf_token": token, "item_id": [str(one), str(two)]}
    )
    assert ticked.headers["location"] == "/queue?kind=degraded"
    assert Page(client.get("/queue?kind=degraded").text).row_ids() == [three]
    assert store.item(one).row.status is Status.CLOSED

    submit(client, "/queue?kind=degraded", "/queue/close-degraded", all="1")
    flashed = Page(client.get("/queue?kind=degraded").text)
    assert flashed.one(id="flash").text == "closed 1 degraded-only item"
    assert flashed.row_ids() == []
    assert store.item(review).row.status is Status.OPEN  # review items are never bulk closed


def test_a_lead_bulk_close_leaves_claimed_items_and_says_so(
    browser: Browser, store: QueueStore
) -> None:
    free, held = _ids(store, [degraded("tx-1"), degraded("tx-2")])
    store.claim(held, "alice")
    client = browser("lena")
    token = csrf_token_of(client.get("/queue?kind=degraded").text)
    client.post(
        "/queue/close-degraded", data={"csrf_token": token, "item_id": [str(free), str(held)]}
    )
    flashed = Page(client.get("/queue?kind=degraded").text).one(id="flash").text
    assert flashed == (
        "closed 1 degraded-only item; 1 left open (claimed by an analyst, or no longer open)"
    )
    assert store.item(held).row.status is Status.OPEN


def test_a_lead_bulk_close_with_nothing_ticked_is_a_400(
    browser: Browser, store: QueueStore
) -> None:
    _ids(store, [degraded("tx-1")])
    response = submit(browser("lena"), "/queue?kind=degraded", "/queue/close-degraded")
    assert response.status_code == 400


def test_a_lead_sees_the_stats(browser: Browser, store: QueueStore, clock: Clock) -> None:
    fraud, legit, _open = _ids(
        store, [incoming("tx-1"), incoming("tx-2"), incoming("tx-3", scored_at_ms=BASE_MS - 1000)]
    )
    for item, outcome, code in ((fraud, Outcome.FRAUD, "card_testing"),
                                (legit, Outcome.LEGITIMATE, "false_positive")):  # fmt: skip
        store.claim(item, "alice")
        store.decide(item, "alice", outcome, code, "")
    response = browser("lena").get("/stats")
    assert response.status_code == 200
    page = Page(response.text)
    assert page.one(data_stat="open_review").text == "1"
    assert page.one(data_stat="review_precision").text == "50 %"
    assert page.one(data_stat="block_precision").text == "—"
    assert page.one(data_stat="oldest_open_age").text == "1 h 00 min"
    bars = [e for e in page.all(tag="rect") if e.attrs.get("data-decisions") not in (None, "0")]
    assert [b.attrs["data-decisions"] for b in bars] == ["2"]


# --- for the machines ------------------------------------------------------------------------
def test_metrics_are_served_without_a_sign_in_and_count_the_decisions(
    browser: Browser, store: QueueStore
) -> None:
    (item,) = _ids(store, [incoming("tx-a", score=0.5, amount=100.0, card_id="card-secret")])
    client = browser()
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'fraud_triage_queue_depth{band="10to100"} 1.0' in response.text
    alice = browser("alice")
    submit(alice, f"/items/{item}", f"/items/{item}/claim")
    submit(
        alice, f"/items/{item}", f"/items/{item}/decide", outcome="fraud", reason_code="other_fraud"
    )
    scraped = client.get("/metrics").text
    assert 'fraud_triage_decisions_total{outcome="fraud"} 1.0' in scraped
    assert "card-secret" not in scraped and "tx-a" not in scraped


def test_a_get_of_a_form_address_is_a_405_page(browser: Browser) -> None:
    response = browser("alice").get("/items/1/claim")
    assert response.status_code == 405
    assert "use the page's links and buttons" in Page(response.text).one(id="error").text


def test_without_a_registry_there_are_no_metrics(store: QueueStore) -> None:
    app = create_app(store, TriageSettings(), secret_key=SECRET_KEY, passwords=FAST)
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 404
        assert client.get("/readyz").status_code == 200  # no check given: ready


def test_health_and_readiness(browser: Browser, readiness: Readiness) -> None:
    client = browser()
    assert (client.get("/healthz").status_code, client.get("/healthz").text) == (200, "ok\n")
    assert client.get("/readyz").status_code == 200
    readiness.why_not = "the queue's database does not answer"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.text == "not ready: the queue's database does not answer\n"


@pytest.mark.parametrize(
    "path", ["/login", "/queue", "/static/triage.js", "/items/404", "/metrics"]
)
def test_every_response_carries_the_security_headers(browser: Browser, path: str) -> None:
    response = browser("alice").get(path)
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    policy = headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    if not path.startswith("/static"):
        assert headers["cache-control"] == "no-store"


def test_the_pages_have_no_inline_script_or_style(browser: Browser, store: QueueStore) -> None:
    (item,) = _ids(store, [incoming("tx-a")])
    client = browser("lena")
    for path in ("/login", "/queue", "/queue?kind=degraded", f"/items/{item}", "/stats"):
        page = Page(client.get(path).text)
        scripts = page.all(tag="script")
        assert scripts and all(s.attrs.get("src", "").startswith("/static/") for s in scripts)
        assert not [e for e in page.elements if "style" in e.attrs or e.tag == "style"]
        assert not [e for e in page.elements if any(a.startswith("on") for a in e.attrs)]


def test_the_static_files_are_served(browser: Browser) -> None:
    client = browser()
    script = client.get("/static/triage.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    style = client.get("/static/triage.css")
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
