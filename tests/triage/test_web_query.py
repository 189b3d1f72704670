"""The queue page's query string: the filters it names, the links built from it, and the
remembered filters of the session (pure functions, no app)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import pytest

from worker.triage.types import Kind, QueueFilter
from worker.triage.web.errors import BadRequest
from worker.triage.web.formatting import audit_detail, duration, money, percent, score_band
from worker.triage.web.query import parse_queue_query, remember, remembered


def test_no_parameters_is_the_open_review_queue_riskiest_first() -> None:
    query = parse_queue_query({})
    assert query.filters == QueueFilter()
    assert query.page == 1
    assert query.link() == "/queue"


def test_every_parameter_becomes_its_filter() -> None:
    query = parse_queue_query(
        {
            "kind": "degraded",
            "decision": "block",
            "source": "fallback",
            "reason": "rule:high_amount",
            "min_amount": "10",
            "max_amount": "99.5",
            "country": "de",
            "max_age_h": "1.5",
            "sort": "oldest",
            "page": "3",
        }
    )
    assert query.filters == QueueFilter(
        kind=Kind.DEGRADED,
        decision="block",
        source="fallback",
        reason="rule:high_amount",
        min_amount=10.0,
        max_amount=99.5,
        country="DE",
        max_age_s=5400.0,
        sort="oldest",
    )
    assert query.page == 3


def test_empty_values_mean_any_and_unknown_parameters_are_ignored() -> None:
    query = parse_queue_query({"decision": "", "country": "  ", "utm_source": "mail"})
    assert query.filters == QueueFilter()
    assert query.values == {}


def test_links_keep_the_filters_and_change_what_they_say() -> None:
    query = parse_queue_query({"decision": "review", "country": "us", "page": "2"})
    assert query.link(page="3") == "/queue?decision=review&country=US&page=3"
    assert query.link(decision=None, page=None) == "/queue?country=US"
    assert query.link("/queue/next", page=None) == "/queue/next?decision=review&country=US"


def test_a_link_never_carries_what_the_page_would_refuse() -> None:
    query = parse_queue_query({"reason": "rule:x", "sort": "newest"})
    path, _, query_string = query.link().partition("?")
    assert path == "/queue"
    again = parse_queue_query(dict(parse_qsl(query_string)))
    assert again.filters == query.filters


@pytest.mark.parametrize(
    ("params", "starts"),
    [
        ({"min_amount": "1e999"}, "min_amount="),
        ({"max_amount": "inf"}, "max_amount="),
        ({"max_age_h": "0"}, "max_age_h is not above 0"),
        ({"page": "100001"}, "page="),
        ({"page": "-1"}, "page="),
        ({"country": "U5"}, "country="),
        ({"reason": "a b"}, "reason="),
        ({"kind": "REVIEW"}, "kind="),
    ],
)
def test_a_bad_value_is_refused_naming_its_parameter(params: dict[str, str], starts: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_queue_query(params)
    assert refused.value.message.startswith(starts)
    assert "\n" not in refused.value.message


def test_a_long_bad_value_is_cut_short_in_the_message() -> None:
    with pytest.raises(BadRequest) as refused:
        parse_queue_query({"decision": "x" * 500})
    assert len(refused.value.message) < 120


def test_the_session_remembers_the_last_filters_without_the_page() -> None:
    session: dict[str, Any] = {}
    remember(session, parse_queue_query({"decision": "block", "page": "4"}))
    again = remembered(session)
    assert again.filters == QueueFilter(decision="block")
    assert again.page == 1


def test_remembered_filters_that_no_longer_parse_are_forgotten() -> None:
    assert remembered({"queue_query": "sort=sideways"}).filters == QueueFilter()
    assert remembered({}).filters == QueueFilter()


def test_the_formatting_of_amounts_ages_shares_and_scores() -> None:
    assert money(1234.5, "EUR") == "1,234.50 EUR"
    assert [duration(s) for s in (None, 5, 125, 3 * 3600 + 300, 2 * 86400 + 4 * 3600)] == [
        "—",
        "5 s",
        "2 min",
        "3 h 05 min",
        "2 d 4 h",
    ]
    assert (percent(None), percent(0.876)) == ("—", "88 %")
    assert [score_band(s) for s in (0.95, 0.8, 0.6, 0.1)] == ["high", "high", "mid", "low"]
    assert audit_detail({"until_ms": 0, "closed": 3}) == [
        ("until", "1970-01-01 00:00:00 UTC"),
        ("closed", "3"),
    ]
