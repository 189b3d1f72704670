"""``fraud-worker triage``: the analysts' web app, its accounts and its database schema."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from worker.cli_common import command_settings
from worker.errors import ConfigError

MIN_PASSWORD_CHARS = 12

triage_app = typer.Typer(
    help="The analysts' web app over the review queue: serve it, manage its accounts.",
    no_args_is_help=False,
)
user_app = typer.Typer(help="Analysts' and leads' accounts.", no_args_is_help=True)
triage_app.add_typer(user_app, name="user")


@triage_app.callback(invoke_without_command=True)
def serve(ctx: typer.Context) -> None:
    """Serve the queue (FRAUD_TRIAGE__HOST/PORT, loopback:8400 unless told), consume the review
    and degraded topics into its database, and publish decisions to the labels topic."""
    if ctx.invoked_subcommand is not None:
        return
    from worker.checks import require_access
    from worker.member import signals_while_starting
    from worker.triage.service import TriageService

    settings = command_settings()
    early = signals_while_starting()
    require_access(settings, with_redis=False)  # the app uses Kafka and its own database
    service = TriageService(settings)
    if early:
        raise SystemExit(0)
    raise SystemExit(service.run())


@triage_app.command("migrate")
def migrate_command() -> None:
    """Create or upgrade the queue's database schema (the app also does it at start)."""
    from worker.triage.service import masked_url, open_store

    settings = command_settings()
    open_store(settings)
    typer.echo(f"the triage database at {masked_url(settings.triage_database_url)} is up to date")


@user_app.command("add")
def add_user_command(
    username: Annotated[str, typer.Argument(help="The login name.")],
    role: Annotated[str, typer.Option(help="analyst (works the queue) or lead.")] = "analyst",
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from standard input (one line).")
    ] = False,
) -> None:
    """Add an account; the password is asked for (never an argument: it would be in the
    shell's history) and stored as an argon2 hash."""
    from worker.triage.passwords import Passwords
    from worker.triage.service import open_store
    from worker.triage.types import Role

    if role not in {r.value for r in Role}:
        raise ConfigError(f"--role must be analyst or lead, not {role!r}")
    settings = command_settings()
    password = _password(password_stdin)
    open_store(settings).add_user(username, Passwords().hash(password), Role(role))
    typer.echo(f"added {role} {username}")


@user_app.command("passwd")
def set_password_command(
    username: Annotated[str, typer.Argument(help="The login name.")],
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from standard input (one line).")
    ] = False,
) -> None:
    """Set a new password for an account."""
    from worker.triage.passwords import Passwords
    from worker.triage.service import open_store

    settings = command_settings()
    password = _password(password_stdin)
    open_store(settings).set_password(username, Passwords().hash(password))
    typer.echo(f"new password set for {username}")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD_CHARS:
        raise ConfigError(f"the password must have at least {MIN_PASSWORD_CHARS} characters")
    return password
