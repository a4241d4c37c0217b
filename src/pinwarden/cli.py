"""The ``pinwarden`` command: serve, worker, migrate, sandbox and workspace/API-key
management."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import threading
from dataclasses import replace
from typing import Annotated, NoReturn

import typer
import uvicorn
from alembic.util.exc import CommandError
from rich.console import Console
from rich.markup import escape
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from pinwarden.api.auth import issue_api_key
from pinwarden.config import Settings
from pinwarden.service import Service
from pinwarden.store.db import Database, check_url, display_url
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


def _fail(message: str) -> NoReturn:
    """One line on stderr and exit 1: a bad setting is the user's to fix, not a crash."""
    err.print(f"[red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(1)


def _settings(database: str | None, worker: bool = True) -> Settings:
    try:
        settings = Settings.from_env()
        if database:
            settings = replace(settings, database_url=database)
        check_url(settings.database_url)
    except ValueError as exc:  # SettingError, or a URL pinwarden cannot use
        _fail(str(exc))
    return settings if worker else replace(settings, run_worker=False)


def _reason(exc: BaseException) -> str:
    """The driver's own first line (``Connection refused``, ``unable to open database
    file``), not SQLAlchemy's wrapping with its background link."""
    inner = getattr(exc, "orig", None) or exc
    lines = str(inner).strip().splitlines()
    return lines[0] if lines else type(inner).__name__


def _open(settings: Settings) -> Service:
    """Connect and migrate, or exit with one line saying why not."""
    where = display_url(settings.database_url)
    probe = Database(settings.database_url)
    try:
        with probe.engine.connect():
            pass
    except SQLAlchemyError as exc:
        hint = " (is the directory there and writable?)" if where.startswith("sqlite") else ""
        _fail(f"cannot open database {where}: {_reason(exc)}{hint}")
    finally:
        probe.dispose()
    service = Service(settings)
    try:
        service.migrate()
    except (SQLAlchemyError, CommandError) as exc:
        _fail(f"cannot migrate database {where}: {_reason(exc)}")
    return service


def _service(database: str | None, worker: bool = True) -> Service:
    return _open(_settings(database, worker))


def _listen(host: str, port: int) -> socket.socket:
    """Bind the port now, before anything is written, and hand the socket to uvicorn,
    so nobody can take it in between."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # As uvicorn does: restarting must not wait for old connections in TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    return sock


def _url(host: str, port: int) -> str:
    """Where a client on this machine reaches the server."""
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _Server(uvicorn.Server):
    """Says where it listens once it really does (after the lifespan started)."""

    def __init__(self, config: uvicorn.Config, url: str) -> None:
        super().__init__(config)
        self._url = url

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            typer.echo(f"listening on {self._url}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
    database: DatabaseOption = None,
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox", help="Ensure a sandbox workspace; print its API key when it is new"
        ),
    ] = False,
    new_key: Annotated[
        bool,
        typer.Option("--new-key", help="With --sandbox: issue and print another API key"),
    ] = False,
    worker: Annotated[bool, typer.Option(help="Run the reconcile worker in this process")] = True,
) -> None:
    """Run the HTTP API (and the reconcile worker)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = _settings(database, worker)
    bind_host = host or settings.host
    bind_port = port if port is not None else settings.port
    # Port, then database, then writes: a run that cannot serve leaves no trace.
    sock = _listen(bind_host, bind_port)
    service = _open(settings)
    url = _url(bind_host, bind_port)
    if sandbox:
        _announce_sandbox(service, url, new_key)
    config = uvicorn.Config(service.app, host=bind_host, port=bind_port, log_level="warning")
    _Server(config, url).run(sockets=[sock])


def _announce_sandbox(service: Service, url: str, new_key: bool) -> None:
    """Create the sandbox workspace on the first run and print its key; later runs
    say it exists (keys are stored hashed, so an old one cannot be shown again)."""
    workspace_id, key, created = _sandbox_key(service, new_key)
    if key is None:
        typer.echo(
            f"Sandbox workspace {workspace_id} exists; its API keys were shown when they were"
            " made and are stored hashed. For another: pinwarden serve --sandbox --new-key,"
            f" or pinwarden api-key create --workspace {workspace_id}"
        )
        return
    typer.echo(f"Sandbox workspace {workspace_id}" + (" created" if created else ""))
    typer.echo(f"API key (shown once): {key}")
    typer.echo(f'Try: curl -H "Authorization: Bearer {key}" {url}/devices/list')


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


def _sandbox_key(service: Service, new_key: bool) -> tuple[str, str | None, bool]:
    """``(workspace_id, key or None, created)`` for the oldest sandbox workspace."""
    now = service.clock.now()
    with service.db.write() as session:
        workspace = session.scalars(
            select(Workspace).where(Workspace.is_sandbox.is_(True)).order_by(Workspace.created_at)
        ).first()
        if workspace is not None:
            key = issue_api_key(session, workspace, now) if new_key else None
            return workspace.workspace_id, key, False
    workspace_id, first_key = service.create_workspace("Sandbox", sandbox=True)
    return workspace_id, first_key, True


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
    driver: Annotated[str, typer.Argument(help="Driver name, e.g. sandbox")],
    workspace: Annotated[
        str | None, typer.Option("--workspace", help="Workspace id (default: the only one)")
    ] = None,
    option: Annotated[
        list[str] | None, typer.Option("--option", help="Driver setting key=value (repeatable)")
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Connect an account of DRIVER to a workspace, discover its locks, print its id."""
    service = _service(database)
    try:
        account_id = service.connect_account(driver, workspace, _options(option or []))
    except LookupError as exc:
        err.print(f"[red]{exc.args[0]}[/]")
        raise typer.Exit(1) from exc
    added = asyncio.run(service.discover_once())
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
