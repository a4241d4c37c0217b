"""The ``pinwarden`` command: serve, worker, migrate, sandbox and workspace/API-key
management."""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated, Any, NoReturn

import typer
import uvicorn
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from pinwarden import serving
from pinwarden.api.auth import issue, issue_api_key, key_id_of
from pinwarden.api.context import RequestContext
from pinwarden.api.errors import SeamError
from pinwarden.api.routes import access_codes as access_code_routes
from pinwarden.api.routes.api_keys import api_key_view
from pinwarden.api.wire import invoke
from pinwarden.config import Settings
from pinwarden.devices.driver import DeviceUnavailable
from pinwarden.service import Service
from pinwarden.store import audit, sealed
from pinwarden.store.db import Database, check_url, display_url, normalize_url
from pinwarden.store.events import event_json
from pinwarden.store.migrate import MigrationError
from pinwarden.store.sealed import SecretKeyError
from pinwarden.store.sealing_keys import (
    check_keys,
    forget_other_keys,
    purge_old_pages,
    reseal,
    stale_count,
)
from pinwarden.store.tables import AccessCode, ApiKey, Device, Event, Workspace
from pinwarden.store.views import access_code_view, device_view
from pinwarden.timeutil import as_utc, iso

app = typer.Typer(
    help="pinwarden: Seam-compatible access codes for your own locks.", no_args_is_help=True
)
sandbox_app = typer.Typer(help="Sandbox workspaces with simulated locks.", no_args_is_help=True)
workspace_app = typer.Typer(help="Workspaces.", no_args_is_help=True)
api_key_app = typer.Typer(help="API keys.", no_args_is_help=True)
devices_app = typer.Typer(help="Locks.", no_args_is_help=True)
codes_app = typer.Typer(help="Access codes.", no_args_is_help=True)
events_app = typer.Typer(help="Events.", no_args_is_help=True)
keys_app = typer.Typer(help="The keys PINs and secrets are sealed with.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(workspace_app, name="workspaces")
# The first name it had; kept so scripts that use it keep working.
app.add_typer(workspace_app, name="workspace", hidden=True)
app.add_typer(api_key_app, name="api-key")
app.add_typer(devices_app, name="devices")
app.add_typer(codes_app, name="codes")
app.add_typer(events_app, name="events")
app.add_typer(keys_app, name="keys")

err = Console(stderr=True, soft_wrap=True)

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON (one document, or one line per event)")
]
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


def cli_user() -> str:
    """Who runs the command, as the audit trail names a CLI actor: ``user@host``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@contextmanager
def _acting(service: Service, command: str) -> Iterator[None]:
    """Audit the block's writes as the CLI user's, under ``command``."""
    actor = audit.Actor("cli", cli_user(), command, service.clock.now, source_address="local")
    with audit.acting_as(actor):
        yield


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
    try:
        service = Service(settings)
        service.migrate()
    except SecretKeyError as exc:
        _fail(f"cannot open the secrets of {where}: {exc}")
    except (SQLAlchemyError, MigrationError) as exc:
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


def _say_listening(url: str) -> None:
    typer.echo(f"listening on {url}")
    typer.echo(f"console: {url}/console (sign in with an API key)")


class _Server(uvicorn.Server):
    """Says where it listens once it really does (after the lifespan started)."""

    def __init__(self, config: uvicorn.Config, url: str) -> None:
        super().__init__(config)
        self._url = url

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            _say_listening(self._url)


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
    processes: Annotated[
        int | None,
        typer.Option(
            "--processes",
            min=1,
            max=64,
            help="HTTP API processes on the port (default: $PINWARDEN_API_PROCESSES, else 2 on"
            " two or more cores)",
        ),
    ] = None,
) -> None:
    """Run the HTTP API (and the reconcile worker)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = _settings(database, worker)
    count = processes if processes is not None else settings.api_processes
    if count > 1 and _in_memory(settings.database_url):
        if processes is not None or "PINWARDEN_API_PROCESSES" in os.environ:
            _fail("several API processes need a database file or server, not an in-memory one")
        count = 1  # the default, where it cannot apply
    bind_host = host or settings.host
    bind_port = port if port is not None else settings.port
    # Port, then database, then writes: a run that cannot serve leaves no trace.
    sock = _listen(bind_host, bind_port)
    bind_port = sock.getsockname()[1]  # the one the system picked, for --port 0
    url = _url(bind_host, bind_port)
    if count > 1:
        # Before the first Service: its metrics must already count in shared files.
        with serving.shared_metrics(settings.metrics):
            service = _open(settings)

            def started() -> None:
                # Once every API process answers, so that the key printed works at once.
                if sandbox:
                    with _acting(service, "serve --sandbox"):
                        _announce_sandbox(service, url, new_key)
                _say_listening(url)

            stopped_by = serving.serve_processes(service, sock, count, started)
        # Outside the block, which removes the metrics' directory first.
        serving.end_by(stopped_by)
        return
    service = _open(settings)
    if sandbox:
        with _acting(service, "serve --sandbox"):
            _announce_sandbox(service, url, new_key)
    config = uvicorn.Config(service.app, host=bind_host, port=bind_port, log_level="warning")
    _Server(config, url).run(sockets=[sock])


def _in_memory(url: str) -> bool:
    """Whether ``url`` names an SQLite database that lives in one process's memory."""
    parsed = make_url(normalize_url(url))
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


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
    service = _service(database)
    with _acting(service, "sandbox create"):
        workspace_id, key = service.create_workspace(name, sandbox=True)
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
    service = _service(database)
    with _acting(service, "workspaces create"):
        workspace_id, key = service.create_workspace(name, sandbox=sandbox)
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
    with _acting(service, f"connect {driver}"):
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
        except BaseException:
            service.disconnect_account(account_id)  # interrupted, or failed: keep nothing
            raise
    err.print(f"{added} lock(s) found")
    typer.echo(json.dumps({"connected_account_id": account_id}))


_SPAN = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _expiry(text: str, now: datetime) -> datetime:
    """``--expires``: a span from now (``90d``, ``12h``, ``30m``, ``2w``) or an ISO-8601
    instant (``2027-01-01T00:00:00Z``)."""
    span = _SPAN.match(text.strip())
    if span is not None:
        return now + timedelta(**{_UNITS[span.group(2)]: int(span.group(1))})
    try:
        instant = as_utc(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
    except ValueError:
        _fail(f"--expires takes a span such as 90d, 12h, 30m or an ISO-8601 time, not {text!r}")
    if instant <= now:
        _fail(f"--expires {text} is not in the future")
    return instant


@api_key_app.command("create")
def api_key_create(
    workspace: Annotated[str, typer.Option("--workspace", help="Workspace id")],
    name: Annotated[str | None, typer.Option("--name", help="A name for people")] = None,
    expires: Annotated[
        str | None,
        typer.Option("--expires", help="Refused after: a span (90d, 12h, 30m) or ISO-8601 time"),
    ] = None,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Reads only: every write answers 403")
    ] = False,
    database: DatabaseOption = None,
) -> None:
    """Issue another API key for a workspace."""
    service = _service(database)
    now = service.clock.now()
    expires_at = _expiry(expires, now) if expires is not None else None
    with _acting(service, "api-key create"), service.db.write() as session:
        row = session.get(Workspace, workspace)
        if row is None:
            err.print(f"[red]No workspace {workspace}[/]")
            raise typer.Exit(1)
        key_row, key = issue(
            session, row, now, name=name, expires_at=expires_at, read_only=read_only
        )
        session.flush()
        view = api_key_view(key_row)
    typer.echo(
        json.dumps(
            {
                "workspace_id": workspace,
                "api_key": key,
                "api_key_id": view["api_key_id"],
                "name": view["name"],
                "expires_at": view["expires_at"],
                "is_read_only": view["is_read_only"],
            }
        )
    )


# ---- Looking at state -------------------------------------------------------------------


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]], wrap: Sequence[str] = ()) -> None:
    """A rich table on stdout; ids never wrap, so they can be copied (only the columns
    named in ``wrap`` may)."""
    table = Table(*columns, show_lines=False)
    for name, column in zip(columns, table.columns, strict=True):
        column.no_wrap = name not in wrap
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    out = Console()
    # Piped into a file or a pager, a table is as wide as it needs to be.
    (out if out.is_terminal else Console(width=400)).print(table)


def _json(document: Any) -> None:
    typer.echo(json.dumps(document, indent=2))


@workspace_app.command("list")
def workspaces_list(database: DatabaseOption = None, as_json: JsonOption = False) -> None:
    """List workspaces with their device and active-key counts."""
    service = _service(database)
    devices = select(func.count()).where(Device.workspace_id == Workspace.workspace_id)
    keys = select(func.count()).where(
        ApiKey.workspace_id == Workspace.workspace_id, ApiKey.revoked_at.is_(None)
    )
    with service.db.read() as session:
        rows = session.execute(
            select(Workspace, devices.scalar_subquery(), keys.scalar_subquery()).order_by(
                Workspace.created_at
            )
        ).all()
    found = [
        {
            "workspace_id": w.workspace_id,
            "name": w.name,
            "is_sandbox": w.is_sandbox,
            "created_at": iso(w.created_at),
            "devices": n_devices,
            "active_api_keys": n_keys,
        }
        for w, n_devices, n_keys in rows
    ]
    if as_json:
        _json(found)
        return
    _table(
        ["workspace_id", "name", "sandbox", "created", "devices", "active keys"],
        [list({**w, "is_sandbox": "yes" if w["is_sandbox"] else "no"}.values()) for w in found],
    )


@devices_app.command("list")
def devices_list(
    workspace: Annotated[str | None, typer.Option("--workspace", help="Workspace id")] = None,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """List locks (all workspaces unless --workspace); --json prints them as the API does."""
    service = _service(database)
    stmt = select(Device).order_by(Device.workspace_id, Device.created_at, Device.device_id)
    if workspace is not None:
        stmt = stmt.where(Device.workspace_id == workspace)
    with service.db.read() as session:
        devices = session.scalars(stmt).all()
        views = [device_view(d) for d in devices]
    if as_json:
        _json(views)
        return
    _table(
        ["device_id", "name", "type", "online", "locked", "errors", "next reconcile"],
        [
            [
                d.device_id,
                d.name,
                v["device_type"],
                "yes" if d.online else "no",
                "yes" if d.locked else "no",
                ", ".join(e["error_code"] for e in d.errors),
                iso(d.next_reconcile_at),
            ]
            for d, v in zip(devices, views, strict=True)
        ],
    )


def _masked(code: str | None) -> str | None:
    """As many dots as digits: the length helps an operator, the PIN would help a thief."""
    return None if code is None else "•" * len(code)


@codes_app.command("create")
def codes_create(
    device: Annotated[str, typer.Option("--device", help="Device id")],
    name: Annotated[str | None, typer.Option("--name", help="Name of the code")] = None,
    code: Annotated[str | None, typer.Option("--code", help="PIN (generated if left out)")] = None,
    starts_at: Annotated[str | None, typer.Option("--starts-at", help="ISO-8601 start")] = None,
    ends_at: Annotated[str | None, typer.Option("--ends-at", help="ISO-8601 end")] = None,
    recurrence: Annotated[
        str | None,
        typer.Option(
            "--recurrence",
            help='Weekly windows as JSON: {"weekly": [{"days": ["mon"], "from": "10:00", '
            '"to": "14:00"}], "time_zone": "…"} (the lock\'s zone when left out)',
        ),
    ] = None,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an access code on a lock, through the API's own rules and errors (audited as
    the CLI user). PINs are masked in the answer unless --json."""
    service = _service(database, worker=False)
    raw: dict[str, Any] = {"device_id": device, "name": name, "code": code}
    raw.update(starts_at=starts_at, ends_at=ends_at)
    if recurrence is not None:
        try:
            raw["recurrence"] = json.loads(recurrence)
        except json.JSONDecodeError as exc:
            _fail(f"--recurrence is not JSON: {exc}")
    with service.db.read() as session:
        found = session.execute(
            select(Workspace.workspace_id, Workspace.is_sandbox)
            .join(Device, Device.workspace_id == Workspace.workspace_id)
            .where(Device.device_id == device)
        ).first()
    if found is None:
        _fail(f"no device {device}")
    endpoint = next(e for e in access_code_routes.ENDPOINTS if e.path == "/access_codes/create")
    context = RequestContext(service.services, found.workspace_id, found.is_sandbox, "cli:")
    try:
        with _acting(service, "codes create"):
            made = invoke(endpoint, context, {k: v for k, v in raw.items() if v is not None})
    except SeamError as exc:
        _fail(f"{exc.type}: {exc.message}")
    view = made["access_code"]
    if as_json:
        _json(view)
        return
    err.print(
        f"created {view['access_code_id']} ({view['name'] or 'unnamed'}, PIN "
        f"{_masked(view['code'])}) on {device}: {view['status']}"
    )


@codes_app.command("list")
def codes_list(
    device: Annotated[str | None, typer.Option("--device", help="Device id")] = None,
    show_codes: Annotated[
        bool, typer.Option("--show-codes", help="Print the PINs instead of masking them")
    ] = False,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """List managed access codes (all devices unless --device); PINs are masked unless
    --show-codes. --json prints them as the API does."""
    service = _service(database)
    stmt = (
        select(AccessCode, Device.errors)
        .join(Device, Device.device_id == AccessCode.device_id)
        .where(AccessCode.deleted_at.is_(None))
        .order_by(AccessCode.device_id, AccessCode.created_at, AccessCode.access_code_id)
    )
    if device is not None:
        stmt = stmt.where(AccessCode.device_id == device)
    with service.db.read() as session:
        now = service.clock.now()
        views = [
            access_code_view(code, list(errors), now=now) for code, errors in session.execute(stmt)
        ]
    if not show_codes:
        views = [{**v, "code": _masked(v["code"])} for v in views]
    if as_json:
        _json(views)
        return
    _table(
        [
            "access_code_id",
            "device_id",
            "name",
            "code",
            "type",
            "status",
            "starts",
            "ends",
            "recurs",
            "next occurrence",
        ],
        [
            [
                v["access_code_id"],
                v["device_id"],
                v["name"],
                v["code"],
                v["type"],
                v["status"],
                v["starts_at"],
                v["ends_at"],
                _recurs(v.get("recurrence")),
                v.get("next_occurrence_starts_at"),
            ]
            for v in views
        ],
    )


def _recurs(recurrence: dict[str, Any] | None) -> str | None:
    """A recurrence in a line: ``mon,thu 10:00-14:00; sat 09:00-12:00 America/New_York``."""
    if recurrence is None:
        return None
    windows = "; ".join(
        f"{','.join(w['days'])} {w['from']}-{w['to']}" for w in recurrence["weekly"]
    )
    return f"{windows} {recurrence['time_zone']}"


_TAIL_WINDOW = 1000


def _event_line(event: Event) -> str:
    subject = event.access_code_id or event.device_id or ""
    return f"{iso(event.created_at)}  {event.event_type:<36} {subject}"


@events_app.command("tail")
def events_tail(
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events until Ctrl-C")
    ] = False,
    lines: Annotated[int, typer.Option("--lines", "-n", help="How many past events")] = 20,
    workspace: Annotated[str | None, typer.Option("--workspace", help="Workspace id")] = None,
    interval: Annotated[
        float, typer.Option(help="With --follow: seconds between looks at the database")
    ] = 0.5,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the latest events, oldest first; --follow keeps printing new ones as they are
    written (by any process on the database) until Ctrl-C. --json: one event per line."""
    service = _service(database)
    base = select(Event)
    if workspace is not None:
        base = base.where(Event.workspace_id == workspace)

    def show(events: Sequence[Event]) -> None:
        for event in events:
            typer.echo(
                json.dumps(event_json(event.payload, event.secrets))
                if as_json
                else _event_line(event)
            )

    with service.db.read() as session:
        latest = list(session.scalars(base.order_by(Event.seq.desc()).limit(max(lines, 0))))
        last_seq = session.scalar(base.with_only_columns(func.max(Event.seq))) or 0
        # Older events count as seen: only what is written from now on is new.
        seen = set(
            session.scalars(
                base.with_only_columns(Event.seq).where(Event.seq > last_seq - _TAIL_WINDOW)
            )
        )
    show(latest[::-1])
    if not follow:
        return
    # On PostgreSQL an event's number is taken when it is written, not when it commits,
    # so a lower number can appear after a higher one: look back over a window of
    # numbers and print what was not printed yet.
    try:
        while True:
            time.sleep(interval)
            low = last_seq - _TAIL_WINDOW
            with service.db.read() as session:
                numbers = session.scalars(
                    base.with_only_columns(Event.seq).where(Event.seq > low)
                ).all()
                new = sorted(set(numbers) - seen)
                fresh = (
                    session.scalars(base.where(Event.seq.in_(new)).order_by(Event.seq)).all()
                    if new
                    else []
                )
            show(fresh)
            seen.update(e.seq for e in fresh)
            last_seq = max([last_seq, *seen])
            seen = {n for n in seen if n > last_seq - _TAIL_WINDOW}
    except KeyboardInterrupt:
        return


@api_key_app.command("list")
def api_key_list(
    workspace: Annotated[str, typer.Option("--workspace", help="Workspace id")],
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """List a workspace's API keys: id, name, how the key starts, read-only, when made,
    last used (to the minute), expires, revoked. Secrets are stored hashed and cannot be
    shown."""
    service = _service(database)
    with service.db.read() as session:
        if session.get(Workspace, workspace) is None:
            _fail(f"no workspace {workspace}")
        keys = session.scalars(
            select(ApiKey)
            .where(ApiKey.workspace_id == workspace)
            .order_by(ApiKey.created_at, ApiKey.key_id)
        ).all()
    found = [{"key_id": k.key_id, **api_key_view(k)} for k in keys]
    if as_json:
        _json(found)
        return
    _table(
        [
            "key_id",
            "name",
            "key starts with",
            "read-only",
            "created",
            "last used",
            "expires",
            "revoked",
        ],
        [
            [
                k["key_id"],
                k["name"],
                k["prefix"],
                "yes" if k["is_read_only"] else "no",
                k["created_at"],
                k["last_used_at"],
                k["expires_at"],
                k["revoked_at"],
            ]
            for k in found
        ],
    )


@api_key_app.command("revoke")
def api_key_revoke(
    key_id: Annotated[str, typer.Argument(help="Key id (from api-key list), or the key itself")],
    database: DatabaseOption = None,
) -> None:
    """Revoke an API key: every process refuses it (401) from its next request on."""
    service = _service(database)
    key_id = key_id_of(key_id)
    with _acting(service, "api-key revoke"), service.db.write() as session:
        key = session.get(ApiKey, key_id)
        if key is None:
            _fail(f"no API key {key_id}")
        if key.revoked_at is not None:
            err.print(f"API key {key_id} was already revoked at {iso(key.revoked_at)}")
            return
        key.revoked_at = service.clock.now()
    err.print(f"API key {key_id} revoked")


@keys_app.command("new")
def keys_new() -> None:
    """Print a fresh key, for PINWARDEN_SECRET_KEY (put it first to rotate to it)."""
    typer.echo(sealed.new_key())


@keys_app.command("rotate")
def keys_rotate(
    database: DatabaseOption = None,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Rows per transaction")] = 500,
    settle_seconds: Annotated[
        float,
        typer.Option("--settle-seconds", min=0, help="Time running processes get to reload keys"),
    ] = 2.0,
) -> None:
    """Seal every PIN and secret again under a new key, while the service runs.

    With a key file: a new key goes first in the file, running processes pick it up, every
    value is sealed again batch by batch (the old key still opens what is not done yet), and
    the old key moves to the retired-keys file once nothing needs it. With
    PINWARDEN_SECRET_KEY: put the new key first in it and restart the processes first; this
    re-seals under that key.
    """
    service = _service(database, worker=False)
    source = sealed.key_source(service.settings)
    by_file = source.value is None

    def reseal_all() -> int:
        # Again if needed: a process that had not reloaded yet may have sealed under an old key.
        done = 0
        for _ in range(3):
            done += reseal(service.db, batch)
            if stale_count(service.db) == 0:
                return done
            time.sleep(settle_seconds)
        _fail("values sealed under an old key keep appearing; is a process on another key file?")

    with sealed.rotation_lock(source.file):
        if by_file:
            old = sealed.read_key_file(source.file)
            sealed.write_key_file(source.file, [sealed.new_key(), *old])
            check_keys(service.db, sealed.use(source), service.clock.now())
            time.sleep(settle_seconds)
        ring = sealed.keys()
        resealed = reseal_all()
        if by_file:
            current, *retired = sealed.read_key_file(source.file)
            sealed.retire_keys(source.file, retired)
            sealed.write_key_file(source.file, [current])
            # A write that sealed under the old key just before its process reloaded.
            time.sleep(settle_seconds)
            resealed += reseal_all()
        dropped = forget_other_keys(service.db, service.clock.now())
        purge_old_pages(service.db)
    gone = ", ".join(dropped) or "none"
    err.print(f"{resealed} rows sealed again under key {ring.current_id}; keys retired: {gone}")
    if by_file:
        err.print(
            f"{source.file} now holds only key {ring.current_id}; the old keys are kept in "
            f"{sealed.retired_file(source.file)} for backups made before the rotation"
        )
    else:
        err.print("remove the other keys from PINWARDEN_SECRET_KEY and restart")


# ---- The audit trail ---------------------------------------------------------------------


def _instant(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return as_utc(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
    except ValueError:
        _fail(f"{option} takes an ISO-8601 time such as 2027-01-01T00:00:00Z, not {text!r}")


def _changes_text(changes: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {v['from']} -> {v['to']}" for k, v in changes.items())


@app.command("audit")
def audit_list(
    device: Annotated[str | None, typer.Option("--device", help="Device id")] = None,
    access_code: Annotated[str | None, typer.Option("--access-code", help="Access code id")] = None,
    actor: Annotated[
        str | None, typer.Option("--actor", help="API key id, CLI user (user@host), console user")
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="From (ISO-8601, inclusive)")] = None,
    until: Annotated[str | None, typer.Option("--until", help="To (ISO-8601, exclusive)")] = None,
    workspace: Annotated[str | None, typer.Option("--workspace", help="Workspace id")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many")] = 1000,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the audit trail, oldest first: who changed what, when, from where (PINs
    masked). Filters combine."""
    service = _service(database)
    with service.db.read() as session:
        entries = audit.find(
            session,
            workspace_id=workspace,
            device_id=device,
            access_code_id=access_code,
            actor_id=actor,
            since=_instant(since, "--since"),
            until=_instant(until, "--until"),
            limit=max(limit, 0),
        )
        views = [audit.entry_view(e) for e in entries]
    if as_json:
        _json(views)
        return
    _table(
        ["when", "actor", "from", "action", "object", "device", "changes", "request"],
        [
            [
                v["created_at"],
                f"{v['actor']['type']}:{v['actor']['id']}",
                v["source_address"],
                f"{v['action']} ({v['operation']})",
                f"{v['object_type']} {v['object_id']}" if v["object_type"] else "",
                v["device_id"],
                _changes_text(v["changes"]),
                v["request_id"],
            ]
            for v in views
        ],
        wrap=["changes"],
    )
