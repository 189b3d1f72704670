"""``fraud-worker bench e2e | core``: the benchmarks (figures printed, never asserted)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from worker.settings import load_settings

bench_app = typer.Typer(help="Benchmarks: figures side by side.", no_args_is_help=True)
DEFAULT_OUT = Path("bench/results")


@bench_app.command("e2e")
def e2e_command(
    events: Annotated[
        int, typer.Option(min=100, help="Events prefilled into the input.")
    ] = 200_000,
    per_message_events: Annotated[
        int,
        typer.Option(min=10, help="Events for the per-message designs (ours and Quix's: slow)."),
    ] = 20_000,
    out: Annotated[Path, typer.Option(help="Where JSON, markdown and PNG go.")] = DEFAULT_OUT,
    rate_mode: Annotated[
        bool, typer.Option(help="Also run ours at half its maximum rate and at 1,000/s.")
    ] = True,
    rounds: Annotated[
        int, typer.Option(min=1, help="Rounds of every design, interleaved; medians reported.")
    ] = 3,
    latency_repeats: Annotated[int, typer.Option(min=1, help="Runs of each fixed rate.")] = 3,
    perf_events: Annotated[
        int, typer.Option(min=100, help="Records for Kafka's perf tools (a JVM warms up).")
    ] = 2_000_000,
    design: Annotated[
        list[str] | None,
        typer.Option(
            help="Run only these designs (repeat): kafka-producer-perf, kafka-consumer-perf, "
            "passthrough, quix-passthrough, ours, ours-exactly-once, per-message, "
            "quix-per-message."
        ),
    ] = None,
    profile: Annotated[
        bool,
        typer.Option(
            help="Run our designs under cProfile (slower): a .prof per run, for "
            "`python -m pstats` or snakeviz; not for the figures."
        ),
    ] = False,
) -> None:
    """Our worker against its peers — Kafka's own perf tools, a Python and a Quix Streams
    pass-through, per-message scoring in Python and in Quix Streams — on the same broker and
    data, interleaved over rounds; CPU per event split into worker, Redis and broker."""
    from worker.bench.e2e import DESIGNS, markdown, run_bench

    unknown = sorted(set(design or []) - set(DESIGNS))
    if unknown:
        raise typer.BadParameter(f"unknown design {unknown}; choose from {', '.join(DESIGNS)}")
    designs = [d for d in DESIGNS if d in (design or DESIGNS)]
    report = run_bench(
        load_settings(),
        events,
        per_message_events,
        out,
        rate_mode,
        designs,
        rounds=rounds,
        latency_repeats=latency_repeats,
        perf_events=perf_events,
        profile=profile,
    )
    typer.echo(f"machine: {report['machine']}\n")
    typer.echo(markdown(report))
    for path in report.get("profiles", []):
        typer.echo(f"profile: {path}")


@bench_app.command("tools")
def tools_command() -> None:
    """Build what `bench e2e`'s peers need, once: the Quix Streams venv (<stack dir>/bench-venv)
    and Kafka's perf tools (<stack dir>/bench-tools, by Maven)."""
    from worker.bench.e2e import DESIGNS, prepare_tools

    for name, path in prepare_tools(load_settings(), DESIGNS).items():
        typer.echo(f"{name}: {path}")


@bench_app.command("core")
def core_command(
    out: Annotated[Path, typer.Option(help="Where JSON and markdown go.")] = DEFAULT_OUT,
    redis: Annotated[bool, typer.Option(help="Also time the Redis stages.")] = True,
) -> None:
    """Batches of 1, 64, 512, 4096 through the ladder in-process; CPU vs CUDA provider."""
    from worker.bench.core import main

    settings = load_settings()
    models, rules = settings.worker.models_dir, settings.worker.rules_path
    typer.echo(main(out, models, rules, settings.redis_url if redis else None))


@bench_app.command("live")
def live_command(
    seed: Annotated[int, typer.Option(help="Simulation seed (training used 42).")] = 7,
    customers: Annotated[int, typer.Option(min=10)] = 5000,
    terminals: Annotated[int, typer.Option(min=10)] = 10000,
    workers: Annotated[int, typer.Option(min=1, max=6)] = 2,
    out: Annotated[Path, typer.Option(help="Where JSON, markdown and PNGs go.")] = DEFAULT_OUT,
    keep_topics: Annotated[bool, typer.Option(help="Keep the run's topics afterwards.")] = False,
) -> None:
    """A simulated half-year and its chargebacks through real workers and the labels
    consumer, then every level's live quality on days 126-181 (against the truth and
    against the delivered labels)."""
    from worker.bench.live import LiveRun, markdown, run_live, write

    run = LiveRun(seed, customers, terminals, workers=workers, keep_topics=keep_topics)
    report = run_live(load_settings(), run, out)
    write(report, out)
    typer.echo(markdown(report))
