"""``fraud-worker schemas``: put the package's schemas into a Schema Registry, and see what
it holds. The registry assigns its own ids; a worker pointed at it writes and reads those."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated

import typer

from worker.cli_common import command_settings
from worker.codec import default_schemas_dir, local_subjects
from worker.codec.configured import confluent_registry
from worker.codec.confluent import BACKWARD, register_subject
from worker.stack.registry import DEFAULT_PORT, RegistryServer

schemas_app = typer.Typer(
    help="The Avro schemas in a Schema Registry (FRAUD_SCHEMAS__REGISTRY_URL).",
    no_args_is_help=True,
)


@schemas_app.command("register")
def register_command(
    local_dir: Annotated[
        Path | None,
        typer.Option(help="A folder with registry.json (default: schemas.local_dir, else ours)."),
    ] = None,
) -> None:
    """Register every version of every subject in registry.json, oldest first, each subject
    with compatibility BACKWARD. Idempotent: what is there already is left as it is."""
    settings = command_settings()
    registry = confluent_registry(settings.schemas)
    subjects = local_subjects(local_dir or settings.schemas.local_dir or default_schemas_dir())
    changed = 0
    for subject, files in subjects.items():
        report = register_subject(registry, subject, files, BACKWARD)
        changed += report.changed
        for line in report.lines():
            typer.echo(line)
    typer.echo(f"{len(subjects)} subjects at {registry.url}: {changed} changed")


@schemas_app.command("list")
def list_command() -> None:
    """Each subject the registry holds, with its latest id and its compatibility level."""
    settings = command_settings()
    registry = confluent_registry(settings.schemas)
    subjects = registry.subjects()
    for subject in subjects:
        level = registry.compatibility(subject) or "(global)"
        typer.echo(f"{subject:<32} latest id {registry.latest_id(subject):>6}  {level}")
    typer.echo(f"{len(subjects)} subjects at {registry.url}")


@schemas_app.command("serve")
def serve_command(
    port: Annotated[int, typer.Option(min=1, max=65534, help="HTTP port (management: +1).")] = (
        DEFAULT_PORT
    ),
) -> None:
    """Run a local Apicurio Registry (in memory, 127.0.0.1) until Ctrl-C, for trying the
    worker against a Schema Registry. With FRAUD_SCHEMAS__REGISTRY_USER and _PASSWORD set, it
    asks for them (basic auth). Needs Java 21+ and Maven (the first start downloads it)."""
    settings = command_settings()
    schemas = settings.schemas
    users = {}
    if schemas.registry_user is not None and schemas.registry_password is not None:
        users[schemas.registry_user] = schemas.registry_password
    server = RegistryServer(settings.stack.dir / "registry", port=port, users=users)
    stopping = {signal.SIGINT, signal.SIGTERM}
    server.start()  # before blocking the signals: the JVM inherits the signal mask
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, stopping)
        server.wait_ready(settings.stack.ready_timeout_s)
        typer.echo(f"schema registry ready: FRAUD_SCHEMAS__REGISTRY_URL={server.url}")
        while server.record() is not None and signal.sigtimedwait(stopping, 1.0) is None:
            pass
    finally:
        server.stop()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stopping)
    typer.echo("schema registry stopped")
