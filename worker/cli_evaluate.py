"""``fraud-worker evaluate``: the quality of what the worker published, per level and per day,
from the scored, shadow and labels topics — once, or live (``--follow``)."""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from prometheus_client import start_http_server

from worker.checks import probe_broker
from worker.cli_common import command_settings
from worker.errors import ConfigError
from worker.events import MS_PER_DAY
from worker.settings import Settings

if TYPE_CHECKING:  # the evaluation needs scikit-learn (the train extra): imported when run
    from worker.quality.days import DayRange
    from worker.quality.live import LiveConfig
    from worker.quality.offline import Sources

log = logging.getLogger(__name__)

DATE = ["%Y-%m-%d"]
LIVE_METRICS_PORT = 9403
LOG_EVERY_S = 60.0

FirstDate = Annotated[
    datetime | None,
    typer.Option(formats=DATE, help="First event day to evaluate (UTC date, inclusive)."),
]
LastDate = Annotated[
    datetime | None,
    typer.Option(formats=DATE, help="Last event day to evaluate (UTC date, inclusive)."),
]
StartDate = Annotated[
    datetime | None,
    typer.Option(
        formats=DATE,
        help="Day 0 of the simulation: --first-day/--last-day count from it, and the "
        "output numbers days from it too.",
    ),
]
FirstDay = Annotated[
    int | None, typer.Option(min=0, help="First event day, counted from --start-date (day 0).")
]
LastDay = Annotated[
    int | None, typer.Option(min=0, help="Last event day, counted from --start-date (inclusive).")
]
ScoredTopic = Annotated[
    str | None, typer.Option(help="Topic of the results (default: the settings' topics.scored).")
]
ShadowTopic = Annotated[
    str | None, typer.Option(help="Topic of the shadow results (default: topics.shadow).")
]
LabelsTopic = Annotated[
    str | None, typer.Option(help="Topic of the labels (default: topics.labels).")
]


def evaluate_command(
    out: Annotated[
        Path, typer.Option(help="Where evaluation.json and the PNGs are written.")
    ] = Path("evaluation"),
    truth: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="A ground-truth file (the simulator's; .npz) instead of the labels topic.",
        ),
    ] = None,
    first_date: FirstDate = None,
    last_date: LastDate = None,
    start_date: StartDate = None,
    first_day: FirstDay = None,
    last_day: LastDay = None,
    scored_topic: ScoredTopic = None,
    shadow_topic: ShadowTopic = None,
    labels_topic: LabelsTopic = None,
    daily: Annotated[bool, typer.Option(help="Figures per day too (in the JSON and PNG).")] = True,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    follow: Annotated[
        bool,
        typer.Option(help="Keep consuming and export rolling live figures as Prometheus gauges."),
    ] = False,
    metrics_port: Annotated[
        int, typer.Option(min=1, max=65535, help="--follow: port of /metrics.")
    ] = LIVE_METRICS_PORT,
    label_delay_days: Annotated[
        float,
        typer.Option(
            min=0,
            help="--follow: a result counts once it is this much older (event "
            "time) than the newest one: its labels have had time to come.",
        ),
    ] = 7.0,
    window_days: Annotated[
        float, typer.Option(min=0.01, help="--follow: days of matured results measured.")
    ] = 7.0,
    sample_rate: Annotated[
        float,
        typer.Option(
            min=0.0001,
            max=1,
            help="--follow: share of transaction ids kept "
            "(a deterministic hash sample, the same in every topic).",
        ),
    ] = 0.25,
    max_rows: Annotated[
        int, typer.Option(min=1000, help="--follow: most sampled rows kept per topic.")
    ] = 1_000_000,
    refresh_s: Annotated[
        float, typer.Option(min=0.1, help="--follow: seconds between recomputations.")
    ] = 5.0,
) -> None:
    """Join the scored results (and the shadow results) with the labels, or with a truth
    file, and measure every level: ROC AUC, average precision, card precision@100 (ours:
    each day's 100 highest-scored cards; the handbook's: cards caught on earlier days left
    out), Brier score, reliability, and the analysts' load (review and block per 1,000
    events, and their precision) — over the range and per day. The last result per
    transaction counts (a redelivered event counts once); a transaction is fraud if a fraud
    label names it, else legitimate.

    Days (UTC event dates, both ends inclusive, either may be left open; by default every
    day present): give dates, e.g. `--first-date 2026-08-05 --last-date 2026-09-29`, or
    day numbers from the simulation's day 0, e.g. `--start-date 2026-04-01 --first-day 126
    --last-day 181` (the same days). Prints a table and writes evaluation.json,
    pr_curves.png and daily_average_precision.png to the `--out` folder.

    With `--follow`: consume for good and serve rolling live figures per source on the
    metrics port (fraud_live_average_precision{source,shadow}, …) over results older than
    the label delay, in a window of matured days, on a hash sample of ids.
    """
    from worker.quality.days import day_range
    from worker.quality.live import LiveConfig
    from worker.quality.offline import Sources

    days = day_range(_day(first_date), _day(last_date), _day(start_date), first_day, last_day)
    if follow and truth is not None:
        raise ConfigError("--follow measures from the labels topic: leave out --truth")
    if follow and (days.first_day is not None or days.last_day is not None):
        raise ConfigError("--follow measures a rolling window: leave out the day options")
    settings = command_settings()
    probe_broker(settings)
    sources = Sources.from_settings(settings, scored_topic, shadow_topic, labels_topic, truth)
    if not follow:
        _evaluate_once(settings, sources, days, out, daily, progress)
        return
    config = LiveConfig(
        label_delay_ms=round(label_delay_days * MS_PER_DAY),
        window_ms=round(window_days * MS_PER_DAY),
        sample_rate=sample_rate,
        max_rows=max_rows,
    )
    _follow(settings, sources, config, metrics_port, refresh_s)


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def _evaluate_once(
    settings: Settings, sources: Sources, days: DayRange, out: Path, daily: bool, progress: bool
) -> None:
    from worker.quality.offline import run_evaluation
    from worker.quality.report import table, write_json, write_pngs

    report = run_evaluation(settings, sources, days, progress=progress, daily=daily)
    typer.echo(table(report))
    written = [write_json(report, out), *write_pngs(report, out)]
    inputs = report["inputs"]
    typer.echo(
        f"read {sum(t['records'] for t in inputs['topics'].values())} records in "
        f"{inputs['read_s']:.1f} s; wrote {', '.join(str(p) for p in written)}"
    )


def _follow(
    settings: Settings, sources: Sources, config: LiveConfig, port: int, refresh_s: float
) -> None:
    from worker.quality.follow import Follower, LiveMetrics, summary_line
    from worker.quality.live import RollingQuality

    metrics = LiveMetrics()
    host = settings.worker.metrics_host
    try:
        server, _thread = start_http_server(port, host, metrics.registry)
    except OSError as exc:
        raise ConfigError(
            f"--metrics-port {port}: cannot listen on {host} ({exc.strerror or exc}); "
            "pick a free port"
        ) from exc
    follower = Follower(settings, sources, RollingQuality(config), metrics)
    for topic in follower.missing:
        log.warning("topic %s does not exist (yet): not followed", topic)
    log.info("live quality gauges on http://%s:%d/metrics", host, port)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _num, _frame: stop.set())
    last_logged = [0.0]

    def log_now_and_then(figures: dict[tuple[str, bool], dict[str, float]]) -> None:
        if time.monotonic() - last_logged[0] >= LOG_EVERY_S:  # the gauges carry the rest
            log.info("%s", summary_line(figures))
            last_logged[0] = time.monotonic()

    try:
        follower.run(stop, refresh_s, log_now_and_then)
    finally:
        server.shutdown()
