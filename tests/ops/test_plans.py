"""What the operator commands decide before touching a broker: which topics a replay reads
and writes, what its summary says, and how lag is counted (KEDA's way)."""

from __future__ import annotations

from worker.ops.dead_letters import DeadLetter
from worker.ops.lag import GroupLag, PartitionLag, default_topics, package_groups
from worker.ops.replay import ReplaySummary, _count, replay_topics
from worker.settings import Settings

SETTINGS = Settings.model_validate({})  # the defaults, whatever FRAUD_* says


def test_a_replay_sends_dead_letters_back_where_they_came_from_by_default() -> None:
    inputs, labels = SETTINGS.topics.input, SETTINGS.topics.labels
    assert replay_topics(SETTINGS, None, None) == (inputs, inputs)
    assert replay_topics(SETTINGS, None, labels) == (labels, labels)
    assert replay_topics(SETTINGS, "retry", None) == (inputs, "retry")
    assert replay_topics(SETTINGS, "retry", labels) == (labels, "retry")


def dead(offset: int, failed_at_ms: int, truncated: bool = False) -> DeadLetter:
    return DeadLetter(
        0, offset, "unknown_schema_id", "transactions", 1, 100 + offset, failed_at_ms,
        70_000 if truncated else 12, truncated, b"raw", b"card",
    )  # fmt: skip


def test_the_summary_names_truncated_ones_and_the_next_since() -> None:
    summary = ReplaySummary("transactions", "transactions", dry_run=False)
    assert summary.next_since_ms is None, "nothing selected: nothing to leave out"
    for letter in (dead(0, 5_000), dead(1, 9_000, truncated=True), dead(2, 7_000)):
        _count(summary, letter)
    assert (summary.selected, summary.replayable) == (3, 2)
    assert summary.codes == {"unknown_schema_id": 3}
    [skipped] = summary.truncated
    assert (skipped.where, skipped.source) == ("0:1", "transactions 1:101")
    assert skipped.raw_size == 70_000
    assert summary.next_since_ms == 9_001
    shown = summary.as_dict()
    assert shown["truncated"] == [
        {"where": "0:1", "error_code": "unknown_schema_id", "source": "transactions 1:101",
         "raw_size": 70_000}
    ]  # fmt: skip
    assert "raw" not in str(shown).replace("raw_size", ""), "no payload in the summary"


def test_lag_counts_like_keda_from_offset_0_without_a_commit() -> None:
    fresh = PartitionLag("t", 0, log_start=0, end=40, committed=None)
    behind = PartitionLag("t", 1, log_start=0, end=40, committed=25)
    done = PartitionLag("t", 2, log_start=0, end=40, committed=40)
    assert (fresh.lag, behind.lag, done.lag) == (40, 15, 0)
    assert (fresh.unread, behind.unread, done.unread) == (40, 15, 0)
    group = GroupLag("g", True, [fresh, behind, done])
    assert (group.lag, group.unread, group.topics) == (55, 55, ["t"])


def test_after_retention_the_worker_reads_less_than_keda_counts() -> None:
    fresh = PartitionLag("t", 0, log_start=30, end=40, committed=None)
    stale = PartitionLag("t", 1, log_start=30, end=40, committed=10)  # its offset was deleted
    assert (fresh.lag, fresh.unread) == (40, 10)
    assert (stale.lag, stale.unread) == (30, 10)


def test_every_group_of_the_package_with_its_topics() -> None:
    settings = Settings.model_validate(
        {
            "worker": {"group_id": "w"},
            "labels": {"group_id": "l"},
            "rescore": {"group_id": "r"},
            "triage": {"group_id": "t", "include_degraded": True},
            "topics": {"input": "in", "labels": "lab", "degraded": "deg", "review": "rev"},
        }
    )
    assert package_groups(settings) == {
        "w": ["in"], "l": ["lab"], "r": ["deg"], "t": ["rev", "deg"],
    }  # fmt: skip
    no_degraded = settings.model_copy(
        update={"triage": settings.triage.model_copy(update={"include_degraded": False})}
    )
    assert package_groups(no_degraded)["t"] == ["rev"]
    assert default_topics(settings, "r") == ["deg"]
    assert default_topics(settings, "someone-else") == ["in"]
