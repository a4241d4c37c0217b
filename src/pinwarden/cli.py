"""The ``pinwarden`` command: serve, worker, migrate, sandbox and workspace/API-key
management."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import threading
from dataclasses import replace
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from sqlalchemy import select

from pinwarden.api.auth import issue_api_key
from pinwarden.config import Settings
from pinwarden.devices.driver import DeviceUnavailable
from pinwarden.service import Service
from pinwarden.store.tables import Workspace

app = typer.Typer(
    help="pinwarden: Seam-compatible access codes for your own locks.", no_args_is_help=True
)
sandbox_app = typer.Typer(help="Sandbox workspaces with simulated locks.", no_args_is_help=True)
workspace_app = typer.Typer(help="Workspaces.", no_args_is_help=True)
api_key_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(workspace_app, name="workspace")
app.add_typer(api_key_app, name="api-key")

err = Console(stderr=True, soft_wrap=True)

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="Database URL (default: $PINWARDEN_DATABASE_URL or sqlite:///pinwarden.db)",
    ),
]


def _service(database: str | None, worker: bool = True) -> Service:
    settings = Settings.from_env()
    if database:
        settings = replace(settings, database_url=database)
    if not worker:
        settings = replace(settings, run_worker=False)
    service = Service(settings)
    service.migrate()
    return service


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
    database: DatabaseOption = None,
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="Ensure a sandbox workspace and print a new API key")
    ] = False,
    worker: Annotated[bool, typer.Option(help="Run the reconcile worker in this process")] = True,
) -> None:
    """Run the HTTP API (and the reconcile worker)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    service = _service(database, worker)
    settings = service.settings
    bind_host = host or settings.host
    bind_port = port or settings.port
    if sandbox:
        workspace_id, key = _sandbox_key(service)
        err.print(f"[bold]Sandbox workspace[/] {workspace_id}")
        err.print(f"[bold]API key[/] (shown once): [green]{key}[/]")
        err.print(
            f'Try: python -c "from seam import Seam; '
            f"print(Seam(api_key='{key}', endpoint='http://{bind_host}:{bind_port}').devices.list())\""
        )
    uvicorn.run(service.app, host=bind_host, port=bind_port, log_level="warning")


@app.command()
def worker(database: DatabaseOption = None) -> None:
    """Run the reconcile worker and the webhook deliverer, without the HTTP API, until
    SIGINT or SIGTERM."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    service = _service(database)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    err.print(f"pinwarden worker on {service.db.display_url}")
    with service.background():
        stop.wait()
    service.db.dispose()


def _sandbox_key(service: Service) -> tuple[str, str]:
    now = service.clock.now()
    with service.db.write() as session:
        workspace = session.scalars(
            select(Workspace).where(Workspace.is_sandbox.is_(True)).order_by(Workspace.created_at)
        ).first()
        if workspace is not None:
            return workspace.workspace_id, issue_api_key(session, workspace, now)
    return service.create_workspace("Sandbox", sandbox=True)


@app.command()
def migrate(database: DatabaseOption = None) -> None:
    """Apply database migrations."""
    _service(database)
    err.print("[green]Database is up to date.[/]")


@sandbox_app.command("create")
def sandbox_create(
    database: DatabaseOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print only JSON on stdout")] = False,
    name: Annotated[str, typer.Option(help="Workspace name")] = "Sandbox",
) -> None:
    """Create a sandbox workspace with seeded simulated locks and print its API key."""
    workspace_id, key = _service(database).create_workspace(name, sandbox=True)
    if as_json:
        typer.echo(json.dumps({"workspace_id": workspace_id, "api_key": key}))
    else:
        err.print(f"Sandbox workspace {workspace_id}\nAPI key: {key}")


@workspace_app.command("create")
def workspace_create(
    name: str,
    database: DatabaseOption = None,
    sandbox: Annotated[bool, typer.Option("--sandbox", help="Seed simulated locks")] = False,
) -> None:
    """Create a workspace and print its first API key."""
    workspace_id, key = _service(database).create_workspace(name, sandbox=sandbox)
    typer.echo(json.dumps({"workspace_id": workspace_id, "api_key": key}))


def _options(pairs: list[str]) -> dict[str, str]:
    config: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            err.print(f"[red]--option takes key=value, not {pair!r}[/]")
            raise typer.Exit(2)
        config[key] = value
    return config


@app.command()
def connect(
    driver: Annotated[str, typer.Argument(help="Driver name: zwave-js or sandbox")],
    workspace: Annotated[
        str | None, typer.Option("--workspace", help="Workspace id (default: the only one)")
    ] = None,
    url: Annotated[
        str | None, typer.Option("--url", help="Server URL (zwave-js: ws://HOST:3000)")
    ] = None,
    option: Annotated[
        list[str] | None, typer.Option("--option", help="Driver setting key=value (repeatable)")
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Connect an account of DRIVER to a workspace, discover its locks, print its id.

    An account whose locks cannot be reached is not kept: the command fails instead.
    """
    service = _service(database)
    config = _options(option or [])
    if url is not None:
        config["url"] = url
    try:
        account_id = service.connect_account(driver, workspace, config)
    except LookupError as exc:
        err.print(f"[red]{exc.args[0]}[/]")
        raise typer.Exit(1) from exc
    try:
        added = asyncio.run(service.discover_once(account_id))
    except DeviceUnavailable as exc:
        service.disconnect_account(account_id)
        err.print(f"[red]Could not reach the account's locks: {exc}[/]")
        raise typer.Exit(1) from exc
    err.print(f"{added} lock(s) found")
    typer.echo(json.dumps({"connected_account_id": account_id}))


@api_key_app.command("create")
def api_key_create(
    workspace: Annotated[str, typer.Option("--workspace", help="Workspace id")],
    database: DatabaseOption = None,
) -> None:
    """Issue another API key for a workspace."""
    service = _service(database)
    with service.db.write() as session:
        row = session.get(Workspace, workspace)
        if row is None:
            err.print(f"[red]No workspace {workspace}[/]")
            raise typer.Exit(1)
        key = issue_api_key(session, row, service.clock.now())
    typer.echo(json.dumps({"workspace_id": workspace, "api_key": key}))
