"""``fraud-worker lag`` and ``fraud-worker dlq replay``: what an operator asks of the topics."""

from __future__ import annotations

import json

import typer

from worker.checks import probe_broker
from worker.cli_common import command_settings
from worker.errors import ConfigError
from worker.ops.dead_letters import DeadLetter, Selection
from worker.ops.lag import GroupLag, default_topics, group_lag, package_groups
from worker.ops.replay import ReplayError, ReplaySummary, replay_dead_letters, replay_topics
from worker.settings import Settings

dlq_app = typer.Typer(help="The dead-letter topic.", no_args_is_help=True)


def lag_command(
    group: str | None = typer.Option(None, help="Consumer group (default: the worker's)."),
    topic: list[str] = typer.Option(  # noqa: B008  # typer's way
        [], help="Topic, repeatable (default: the group's topics, or the input topic)."
    ),
    every: bool = typer.Option(
        False, "--all", help="Every group this package runs (worker, labels, rescore, triage)."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object."),
) -> None:
    """The committed lag per partition (end offset - committed offset; a partition with no
    commit counts from offset 0) and the total: what KEDA's Kafka scaler reads."""
    settings = command_settings()
    if every and (group or topic):
        raise ConfigError("--all reads every group and its topics: leave out --group/--topic")
    probe_broker(settings)
    wanted = _wanted(settings, group, topic, every)
    groups = [group_lag(settings, name, topics) for name, topics in wanted.items()]
    if as_json:
        typer.echo(json.dumps({"groups": [g.as_dict() for g in groups]}))
        return
    for lag in groups:
        _echo_lag(lag)


def _wanted(
    settings: Settings, group: str | None, topics: list[str], every: bool
) -> dict[str, list[str]]:
    if every:
        return package_groups(settings)
    name = group or settings.worker.group_id
    return {name: topics or default_topics(settings, name)}


def _echo_lag(lag: GroupLag) -> None:
    typer.echo(f"group {lag.group}  topics {', '.join(lag.topics)}")
    typer.echo(f"  {'topic':<28} {'partition':>9} {'committed':>12} {'end':>12} {'lag':>10}")
    for p in lag.partitions:
        committed = "-" if p.committed is None else str(p.committed)
        typer.echo(f"  {p.topic:<28} {p.partition:>9} {committed:>12} {p.end:>12} {p.lag:>10}")
    typer.echo(f"  total lag {lag.lag}")
    if not lag.known:
        typer.secho(
            f"  note: the broker does not know group {lag.group!r} (no member, no commit): "
            "every partition counts from offset 0; check the name (--group) if one runs",
            err=True,
        )
    if lag.unread != lag.lag:
        typer.echo(
            f"  note: retention deleted records the group never read; it would read "
            f"{lag.unread} (KEDA counts {lag.lag})"
        )


@dlq_app.command("replay")
def dlq_replay(
    code: list[str] = typer.Option(  # noqa: B008  # typer's way
        [], help="Error code, repeatable (e.g. unknown_schema_id; default: any)."
    ),
    since_ms: int | None = typer.Option(None, min=0, help="Failed at or after (ms since epoch)."),
    until_ms: int | None = typer.Option(None, min=0, help="Failed before (ms since epoch)."),
    source_topic: str | None = typer.Option(
        None, help="Dead letters of this topic (default: the input topic)."
    ),
    limit: int | None = typer.Option(None, min=1, help="At most this many (the first ones)."),
    dry_run: bool = typer.Option(False, help="List what would be replayed; send nothing."),
    to: str | None = typer.Option(None, help="Replay to this topic (default: the source topic)."),
    as_json: bool = typer.Option(False, "--json", help="The summary as one JSON object."),
) -> None:
    """Re-publish selected dead letters' raw input (original bytes and key, a
    fraud-replayed-from header) after a fix. Nothing remembers a replay: replaying twice
    gives two answers; bound a later replay with --since-ms (the summary names it)."""
    settings = command_settings()
    if since_ms is not None and until_ms is not None and until_ms <= since_ms:
        raise ConfigError("--until-ms must be after --since-ms")
    source, target = replay_topics(settings, to, source_topic)
    selection = Selection(frozenset(code), since_ms, until_ms, source, limit)
    probe_broker(settings)
    listed = _echo_letter if dry_run and not as_json else _quiet
    summary = replay_dead_letters(settings, selection, target, dry_run, listed)
    if as_json:
        typer.echo(json.dumps(summary.as_dict()))
    else:
        _echo_summary(summary, settings.topics.dead_letter)
    if summary.failed:
        raise ReplayError(
            f"{summary.failed} replayed records were not acknowledged by {target} "
            f"({summary.first_error}); {summary.acknowledged} were: replaying them again "
            "would give their events a second answer"
        )


def _quiet(_letter: DeadLetter) -> None:
    return None


def _echo_letter(letter: DeadLetter) -> None:
    """One selected dead letter: where it is, why, where from; never its contents."""
    cut = "  truncated: not replayable" if letter.truncated else ""
    typer.echo(
        f"dlq {letter.where:<10} {letter.error_code:<22} from {letter.source:<36} "
        f"failed_at_ms={letter.failed_at_ms} raw={letter.raw_size}B{cut}"
    )


def _echo_summary(summary: ReplaySummary, dead_letter_topic: str) -> None:
    codes = ", ".join(f"{c}={n}" for c, n in sorted(summary.codes.items())) or "none"
    typer.echo(
        f"read {summary.read} records of {dead_letter_topic}; selected {summary.selected} "
        f"dead letters of {summary.source_topic} ({codes})"
    )
    if summary.unreadable:
        typer.echo(f"{summary.unreadable} records there are not dead letters (not decodable)")
    if summary.dry_run:
        typer.echo(f"dry run: would replay {summary.replayable} to {summary.target}; sent nothing")
    else:
        typer.echo(f"replayed {summary.acknowledged} of {summary.replayable} to {summary.target}")
    if summary.truncated:
        typer.echo(
            f"skipped {len(summary.truncated)} truncated (raw input cut at "
            "worker.dead_letter_raw_max_bytes; re-publish them from their source):"
        )
        for skipped in summary.truncated:
            typer.echo(
                f"  dlq {skipped.where} {skipped.error_code}: {skipped.raw_size} bytes at "
                f"{skipped.source}"
            )
    if summary.next_since_ms is not None and not summary.dry_run:
        typer.echo(
            "the worker dedupes nothing: replaying these again gives their events a second "
            f"answer; leave them out of the next replay with --since-ms {summary.next_since_ms}"
        )
