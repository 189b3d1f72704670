"""The ``fraud-worker`` command line."""

from __future__ import annotations

from typing import NoReturn

import redis
import typer
from confluent_kafka import KafkaException

from worker.checks import BROKER_HINT, REDIS_HINT, probe_broker
from worker.cli_bench import bench_app
from worker.cli_evaluate import evaluate_command
from worker.cli_labels import labels_command
from worker.cli_ops import dlq_app, lag_command
from worker.cli_rescore import rescore_command
from worker.cli_schemas import schemas_app
from worker.cli_stack import stack_app, topics_app
from worker.cli_train import train_command
from worker.cli_triage import triage_app
from worker.cli_worker import (
    check_config_command,
    demo_command,
    review_command,
    run_command,
    simulate_command,
)
from worker.errors import FraudWorkerError

app = typer.Typer(
    help="Streaming fraud-scoring worker: Kafka in, a five-level scoring ladder, Kafka out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(stack_app, name="stack")
app.add_typer(topics_app, name="topics")
app.add_typer(bench_app, name="bench")
app.add_typer(triage_app, name="triage")
app.add_typer(dlq_app, name="dlq")
app.add_typer(schemas_app, name="schemas")
app.command("train")(train_command)
app.command("run")(run_command)
app.command("labels")(labels_command)
app.command("simulate")(simulate_command)
app.command("review")(review_command)
app.command("check-config")(check_config_command)
app.command("demo")(demo_command)
app.command("evaluate")(evaluate_command)
app.command("rescore")(rescore_command)
app.command("lag")(lag_command)


@app.command()
def smoke(events: int = typer.Option(1000, min=1, help="How many events to round-trip.")) -> None:
    """Produce events through the real broker, consume them back, and round-trip Redis."""
    from worker.cli_common import command_settings
    from worker.smoke import run_smoke

    settings = command_settings()
    probe_broker(settings)
    report = run_smoke(events, settings)
    typer.echo(report.describe())


def main() -> None:
    """Entry point: a user's mistake (a bad setting, a server that does not answer, a file
    that cannot be written) is one line naming the fix, and exit code 1 — no traceback."""
    try:
        app()
    except FraudWorkerError as exc:
        _fail(str(exc), exc)
    except KafkaException as exc:
        _fail(f"Kafka: {exc.args[0].str()}; {BROKER_HINT}", exc)
    except redis.RedisError as exc:
        _fail(f"Redis: {exc}; {REDIS_HINT}", exc)
    except OSError as exc:
        _fail(str(exc), exc)


def _fail(message: str, exc: BaseException) -> NoReturn:
    typer.secho(f"error: {' '.join(message.split())}", err=True, fg=typer.colors.RED)
    raise SystemExit(1) from exc
