"""The web console's routes, under ``/console``.

Every page reads, and every form acts, through the API's own endpoint handlers
(:func:`pinwarden.api.wire.invoke` with the signed-in workspace), so the console has
no rules of its own: a refused action shows the API's error message. The only things it
does beside the API are the ones the API has no route for: recording that a PIN was
revealed (an event in the event log) and reading the newest events first for the feed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from pinwarden.api.context import RequestContext, Services
from pinwarden.api.errors import SeamError
from pinwarden.api.lookup import access_code_in_workspace
from pinwarden.api.wire import Endpoint, invoke, read_only_refusal, source_address
from pinwarden.console import views
from pinwarden.console.session import (
    CSRF_FIELD,
    Operator,
    csrf_ok,
    login_token,
    operator,
    remember_login_token,
    sign_in,
    sign_out,
)
from pinwarden.store.audit import Actor, acting_as
from pinwarden.store.events import record_event
from pinwarden.store.tables import Device, Event
from pinwarden.webhooks.event_types import KNOWN_EVENT_TYPES

HERE = Path(__file__).parent
PREFIX = "/console"
# The event a PIN's reveal leaves in the event log (a pinwarden extension event type).
REVEALED = "access_code.code_revealed"
FEED_LIMIT = 100

# Pages hold PINs and secrets: not cached, not framed, scripts and forms only from here.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

Page = Callable[[Request, Operator, FormData | None], Response]


def _form_text(form: FormData | None, name: str) -> str:
    value = form.get(name) if form is not None else None
    return value.strip() if isinstance(value, str) else ""


class Console:
    """The console's pages for one process's services and endpoint table."""

    def __init__(self, services: Services, endpoints: Sequence[Endpoint]) -> None:
        self.services = services
        self.endpoints = {e.path: e for e in endpoints}
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        env = self.templates.env
        env.globals["status_text"] = views.STATUS_TEXT
        env.globals["csrf_field"] = CSRF_FIELD
        env.filters["local"] = views.local
        env.filters["issues"] = views.issues
        env.filters["battery"] = views.battery_text
        env.filters["shown_status"] = views.shown_status
        env.filters["weekly"] = views.weekly

    # -- plumbing -----------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        get, post = ["GET"], ["POST"]
        page = self._page
        return [
            Route(PREFIX, self._home, methods=get),
            Route(f"{PREFIX}/", self._home, methods=get),
            Route(f"{PREFIX}/login", self._login_form, methods=get),
            Route(f"{PREFIX}/login", self._login, methods=post),
            Route(f"{PREFIX}/logout", page(self.logout), methods=post),
            Route(f"{PREFIX}/locks", page(self.locks), methods=get),
            Route(f"{PREFIX}/locks/{{device_id}}", page(self.lock), methods=get),
            Route(f"{PREFIX}/locks/{{device_id}}/codes", page(self.create_code), methods=post),
            Route(f"{PREFIX}/locks/{{device_id}}/door", page(self.door), methods=post),
            Route(f"{PREFIX}/locks/{{device_id}}/simulate", page(self.simulate), methods=post),
            Route(f"{PREFIX}/codes/{{code_id}}/edit", page(self.edit_form), methods=get),
            Route(f"{PREFIX}/codes/{{code_id}}/edit", page(self.edit), methods=post),
            Route(f"{PREFIX}/codes/{{code_id}}/delete", page(self.delete_code), methods=post),
            Route(f"{PREFIX}/codes/{{code_id}}/reveal", page(self.reveal), methods=post),
            Route(f"{PREFIX}/unmanaged/{{code_id}}", page(self.unmanaged), methods=post),
            Route(f"{PREFIX}/events", page(self.events), methods=get),
            Route(f"{PREFIX}/events/rows", page(self.event_rows), methods=get),
            Route(f"{PREFIX}/webhooks", page(self.webhooks), methods=get),
            Route(f"{PREFIX}/webhooks", page(self.create_webhook), methods=post),
            Route(f"{PREFIX}/webhooks/{{webhook_id}}", page(self.webhook), methods=get),
            Route(f"{PREFIX}/webhooks/{{webhook_id}}", page(self.webhook_action), methods=post),
            Mount(f"{PREFIX}/static", StaticFiles(directory=str(HERE / "static")), name="static"),
            Route(f"{PREFIX}/{{rest:path}}", self._no_page, methods=["GET", "POST"]),
        ]

    async def _no_page(self, request: Request) -> Response:
        return self.render(request, None, "not_found.html", status=404, message="No such page")

    def _page(self, fn: Page) -> Callable[[Request], Awaitable[Response]]:
        """A signed-in page: redirect to sign-in without a valid session; a POST must carry
        the session's CSRF token (403 otherwise)."""

        async def view(request: Request) -> Response:
            who = await run_in_threadpool(operator, request, self.services.api_keys)
            if who is None:
                if request.method == "POST":
                    return self._plain("Signed out: sign in again", 401)
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"{PREFIX}/login?next={quote(target)}", 303)
            form = None
            if request.method == "POST":
                form = await request.form()
                if not csrf_ok(who.csrf_token, form.get(CSRF_FIELD)):
                    return self._plain(
                        "Refused: this form has no valid CSRF token. Reload the page and try"
                        " again.",
                        403,
                    )
            return await run_in_threadpool(fn, request, who, form)

        return view

    def _plain(self, message: str, status: int) -> Response:
        return HTMLResponse(
            f"<!doctype html><title>pinwarden console</title><p>{message}</p>"
            f'<p><a href="{PREFIX}/login">Sign in</a></p>',
            status_code=status,
            headers=SECURITY_HEADERS,
        )

    def render(
        self,
        request: Request,
        who: Operator | None,
        name: str,
        status: int = 200,
        **context: Any,
    ) -> Response:
        context.setdefault("notice", request.query_params.get("notice"))
        context.setdefault("error", None)
        response = self.templates.TemplateResponse(
            request,
            name,
            {"who": who, "now": self.services.clock.now(), "prefix": PREFIX, **context},
            status_code=status,
        )
        response.headers.update(SECURITY_HEADERS)
        return response

    def api(self, request: Request, who: Operator, path: str, **params: Any) -> dict[str, Any]:
        """Call the API's handler for ``path`` as the signed-in workspace; parameters that
        are None are left out, as a client leaves them out."""
        endpoint = self.endpoints[path]
        if who.read_only and not endpoint.read_only:
            raise read_only_refusal(path)
        ctx = RequestContext(
            self.services, who.workspace_id, who.is_sandbox, str(request.url), who.key_id
        )
        raw = {k: v for k, v in params.items() if v is not None}
        if endpoint.read_only:
            return invoke(endpoint, ctx, raw)
        actor = Actor(
            "console_user",
            who.key_id,
            path,
            self.services.clock.now,
            workspace_id=who.workspace_id,
            request_id=getattr(request.state, "request_id", None),
            source_address=source_address(request),
        )
        with acting_as(actor):
            return invoke(endpoint, ctx, raw)

    def not_found(self, request: Request, who: Operator, exc: SeamError) -> Response:
        return self.render(request, who, "not_found.html", status=404, message=exc.message)

    def back(self, url: str, notice: str) -> Response:
        return RedirectResponse(f"{url}?{urlencode({'notice': notice})}", 303)

    # -- sign-in ------------------------------------------------------------------------

    async def _home(self, request: Request) -> Response:
        return RedirectResponse(f"{PREFIX}/locks", 303)

    def _login_page(
        self, request: Request, error: str | None = None, status: int = 200
    ) -> Response:
        token = login_token(request)
        nxt = request.query_params.get("next") or ""
        response = self.render(
            request, None, "login.html", status=status, error=error, login_token=token, next=nxt
        )
        remember_login_token(response, request, token)
        return response

    async def _login_form(self, request: Request) -> Response:
        return self._login_page(request)

    async def _login(self, request: Request) -> Response:
        form = await request.form()
        expected = request.cookies.get("pinwarden_console_login") or ""
        if not expected or not csrf_ok(expected, form.get(CSRF_FIELD)):
            return self._login_page(
                request, "The sign-in form expired: please try again.", status=403
            )
        api_key = _form_text(form, "api_key")
        principal = await run_in_threadpool(
            self.services.api_keys.authenticate, f"Bearer {api_key}"
        )
        if principal is None:
            return self._login_page(request, "Unauthorized: missing or invalid API key", status=401)
        nxt = _form_text(form, "next")
        if not nxt.startswith(f"{PREFIX}/") or nxt.startswith(f"{PREFIX}//"):
            nxt = f"{PREFIX}/locks"
        response = RedirectResponse(nxt, 303)
        sign_in(response, request, api_key)
        return response

    def logout(self, request: Request, who: Operator, form: FormData | None) -> Response:
        response = RedirectResponse(f"{PREFIX}/login", 303)
        sign_out(response)
        return response

    # -- locks --------------------------------------------------------------------------

    def locks(self, request: Request, who: Operator, form: FormData | None) -> Response:
        devices = self.api(request, who, "/devices/list")["devices"]
        accounts = {
            a["connected_account_id"]: a
            for a in self.api(request, who, "/connected_accounts/list")["connected_accounts"]
        }
        q = (request.query_params.get("q") or "").strip().lower()
        show = request.query_params.get("show") or "all"
        rows = []
        for device in devices:
            codes = self.api(request, who, "/access_codes/list", device_id=device["device_id"])[
                "access_codes"
            ]
            unmanaged = self.api(
                request, who, "/access_codes/unmanaged/list", device_id=device["device_id"]
            )["access_codes"]
            troubled = [c for c in codes if views.needs_attention(c)]
            attention = bool(device["errors"] or device["warnings"] or troubled)
            account = accounts.get(device["connected_account_id"], {})
            row = {
                "device": device,
                "codes": len(codes),
                "unmanaged": len(unmanaged),
                "slots": device["properties"].get("max_active_codes_supported"),
                "attention": attention,
                "troubled": len(troubled),
                "integration": views.integration(device, account),
                "model": device["properties"]["model"]["display_name"],
            }
            haystack = " ".join(
                [device["display_name"], device["device_type"], row["integration"], row["model"]]
            ).lower()
            if q and q not in haystack:
                continue
            online = device["properties"]["online"]
            if (
                (show == "online" and not online)
                or (show == "offline" and online)
                or (show == "attention" and not attention)
            ):
                continue
            rows.append(row)
        rows.sort(key=lambda r: str(r["device"]["display_name"]).lower())
        return self.render(
            request, who, "locks.html", rows=rows, q=q, show=show, total=len(devices)
        )

    def lock(self, request: Request, who: Operator, form: FormData | None) -> Response:
        return self.lock_page(request, who, request.path_params["device_id"])

    def lock_page(
        self,
        request: Request,
        who: Operator,
        device_id: str,
        *,
        error: SeamError | None = None,
        revealed: dict[str, str | None] | None = None,
        values: dict[str, str] | None = None,
    ) -> Response:
        try:
            device = self.api(request, who, "/devices/get", device_id=device_id)["device"]
        except SeamError as exc:
            if exc.status == 404:
                return self.not_found(request, who, exc)
            raise
        tz = views.zone(device)
        codes = sorted(
            self.api(request, who, "/access_codes/list", device_id=device_id)["access_codes"],
            # Ongoing codes first, then by when their window opens.
            key=lambda c: (c["starts_at"] is not None, c["starts_at"] or "", c["name"] or ""),
        )
        unmanaged = self.api(request, who, "/access_codes/unmanaged/list", device_id=device_id)[
            "access_codes"
        ]
        account = self.api(
            request,
            who,
            "/connected_accounts/get",
            connected_account_id=device["connected_account_id"],
        )["connected_account"]
        now = self.services.clock.now()
        view = request.query_params.get("view") or "day"
        try:
            day = date.fromisoformat(request.query_params.get("day") or "")
        except ValueError:
            day = None
        line = views.timeline(codes, now, tz, view, day)
        names = {c["access_code_id"]: c["name"] or "unnamed" for c in [*codes, *unmanaged]}
        events = self.recent_events(who, device_id=device_id, limit=25)
        names = {**self._code_names(request, who, events), **names}
        start = (now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
        defaults = {
            "name": "",
            "code": "",
            "kind": "time_bound",
            "starts_at": views.local_input(start, tz),
            "ends_at": views.local_input(start + timedelta(days=1), tz),
            "repeat_days": [],
            "repeat_from": "",
            "repeat_to": "",
        }
        defaults.update(values or {})
        return self.render(
            request,
            who,
            "lock.html",
            status=error.status if error is not None else 200,
            error=error.message if error is not None else None,
            device=device,
            account=account,
            integration=views.integration(device, account),
            tz=tz,
            codes=codes,
            unmanaged=unmanaged,
            timeline=line,
            events=events,
            names=names,
            revealed=revealed or {},
            values=defaults,
            summary=views.event_summary,
            view=line.view,
        )

    def create_code(self, request: Request, who: Operator, form: FormData | None) -> Response:
        device_id = request.path_params["device_id"]
        fields = ("name", "code", "kind", "starts_at", "ends_at", "repeat_from", "repeat_to")
        values: dict[str, Any] = {k: _form_text(form, k) for k in fields}
        values["repeat_days"] = [str(d) for d in form.getlist("repeat_days")] if form else []
        try:
            device = self.api(request, who, "/devices/get", device_id=device_id)["device"]
        except SeamError as exc:
            return self.not_found(request, who, exc)
        tz = views.zone(device)
        timed = values["kind"] == "time_bound"
        try:
            made = self.api(
                request,
                who,
                "/access_codes/create",
                device_id=device_id,
                name=values["name"] or None,
                code=values["code"] or None,
                starts_at=views.from_local_input(values["starts_at"], tz) if timed else None,
                ends_at=views.from_local_input(values["ends_at"], tz) if timed else None,
                recurrence=views.weekly_recurrence(
                    values["repeat_days"], values["repeat_from"], values["repeat_to"]
                ),
            )["access_code"]
        except SeamError as exc:
            return self.lock_page(request, who, device_id, error=exc, values=values)
        return self.back(
            f"{PREFIX}/locks/{device_id}",
            f"Code “{made['name'] or 'unnamed'}” created: {made['status']}",
        )

    def door(self, request: Request, who: Operator, form: FormData | None) -> Response:
        device_id = request.path_params["device_id"]
        action = _form_text(form, "action")
        path = {"lock": "/locks/lock_door", "unlock": "/locks/unlock_door"}.get(action)
        if path is None:
            return self._plain("Unknown door action", 400)
        try:
            attempt = self.api(request, who, path, device_id=device_id)["action_attempt"]
        except SeamError as exc:
            return self.lock_page(request, who, device_id, error=exc)
        return self.back(
            f"{PREFIX}/locks/{device_id}",
            f"{action.capitalize()} requested: the action attempt is {attempt['status']}",
        )

    def simulate(self, request: Request, who: Operator, form: FormData | None) -> Response:
        device_id = request.path_params["device_id"]
        action = _form_text(form, "action")
        calls: dict[str, tuple[str, dict[str, Any], str]] = {
            "disconnect": ("/devices/simulate/disconnect", {}, "Lock taken offline"),
            "connect": ("/devices/simulate/connect", {}, "Lock brought online"),
            "keypad": (
                "/locks/simulate/keypad_code_entry",
                {"code": _form_text(form, "code")},
                "PIN typed at the keypad",
            ),
            "manual_lock": (
                "/locks/simulate/manual_lock_via_keypad",
                {},
                "Locked at the keypad",
            ),
            "unmanaged": (
                "/access_codes/simulate/create_unmanaged_access_code",
                {"name": _form_text(form, "name"), "code": _form_text(form, "code")},
                "Unmanaged code programmed at the keypad",
            ),
        }
        if action not in calls:
            return self._plain("Unknown simulation", 400)
        path, params, done = calls[action]
        try:
            self.api(request, who, path, device_id=device_id, **params)
        except SeamError as exc:
            return self.lock_page(request, who, device_id, error=exc)
        return self.back(f"{PREFIX}/locks/{device_id}", done)

    # -- codes --------------------------------------------------------------------------

    def _code(self, request: Request, who: Operator, code_id: str) -> dict[str, Any]:
        return dict(
            self.api(request, who, "/access_codes/get", access_code_id=code_id)["access_code"]
        )

    def edit_form(self, request: Request, who: Operator, form: FormData | None) -> Response:
        return self.edit_page(request, who, request.path_params["code_id"])

    def edit_page(
        self,
        request: Request,
        who: Operator,
        code_id: str,
        error: SeamError | None = None,
        values: dict[str, str] | None = None,
    ) -> Response:
        try:
            code = self._code(request, who, code_id)
        except SeamError as exc:
            return self.not_found(request, who, exc)
        device = self.api(request, who, "/devices/get", device_id=code["device_id"])["device"]
        tz = views.zone(device)
        now = self.services.clock.now()
        start = (now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
        shown = {
            "name": code["name"] or "",
            "code": "",
            "kind": code["type"],
            "starts_at": views.local_input(code["starts_at"] or start, tz),
            "ends_at": views.local_input(code["ends_at"] or start + timedelta(days=1), tz),
        }
        shown.update(values or {})
        return self.render(
            request,
            who,
            "edit.html",
            status=error.status if error is not None else 200,
            error=error.message if error is not None else None,
            code=code,
            device=device,
            tz=tz,
            values=shown,
        )

    def edit(self, request: Request, who: Operator, form: FormData | None) -> Response:
        code_id = request.path_params["code_id"]
        values = {k: _form_text(form, k) for k in ("name", "code", "kind", "starts_at", "ends_at")}
        try:
            code = self._code(request, who, code_id)
            device = self.api(request, who, "/devices/get", device_id=code["device_id"])["device"]
        except SeamError as exc:
            return self.not_found(request, who, exc)
        tz = views.zone(device)
        timed = values["kind"] == "time_bound"
        try:
            self.api(
                request,
                who,
                "/access_codes/update",
                access_code_id=code_id,
                name=values["name"] or None,
                code=values["code"] or None,
                type=None if timed else "ongoing",
                starts_at=views.from_local_input(values["starts_at"], tz) if timed else None,
                ends_at=views.from_local_input(values["ends_at"], tz) if timed else None,
            )
        except SeamError as exc:
            return self.edit_page(request, who, code_id, error=exc, values=values)
        return self.back(
            f"{PREFIX}/locks/{code['device_id']}",
            f"Code “{values['name'] or code['name'] or 'unnamed'}” updated",
        )

    def delete_code(self, request: Request, who: Operator, form: FormData | None) -> Response:
        code_id = request.path_params["code_id"]
        try:
            code = self._code(request, who, code_id)
        except SeamError as exc:
            return self.not_found(request, who, exc)
        try:
            self.api(request, who, "/access_codes/delete", access_code_id=code_id)
        except SeamError as exc:
            return self.lock_page(request, who, code["device_id"], error=exc)
        return self.back(
            f"{PREFIX}/locks/{code['device_id']}",
            f"Code “{code['name'] or 'unnamed'}” deleted: it is being removed from the lock",
        )

    def reveal(self, request: Request, who: Operator, form: FormData | None) -> Response:
        """Show one code's PIN, leaving ``access_code.code_revealed`` in the event log."""
        code_id = request.path_params["code_id"]
        now = self.services.clock.now()
        try:
            with self.services.db.write() as session:
                code = access_code_in_workspace(session, who.workspace_id, code_id)
                device = session.get(Device, code.device_id)
                record_event(
                    session,
                    REVEALED,
                    now,
                    workspace_id=who.workspace_id,
                    device=device,
                    access_code=code,
                    code_revealed_by=f"console (API key {who.key_id})",
                )
                device_id, pin = code.device_id, code.code
        except SeamError as exc:
            return self.not_found(request, who, exc)
        return self.lock_page(request, who, device_id, revealed={code_id: pin})

    def unmanaged(self, request: Request, who: Operator, form: FormData | None) -> Response:
        code_id = request.path_params["code_id"]
        action = _form_text(form, "action")
        device_id = _form_text(form, "device_id")
        path = {
            "convert": "/access_codes/unmanaged/convert_to_managed",
            "delete": "/access_codes/unmanaged/delete",
        }.get(action)
        if path is None:
            return self._plain("Unknown action", 400)
        try:
            found = self.api(request, who, "/access_codes/unmanaged/get", access_code_id=code_id)
            device_id = found["access_code"]["device_id"]
            self.api(request, who, path, access_code_id=code_id)
        except SeamError as exc:
            if not device_id or exc.status == 404:
                return self.not_found(request, who, exc)
            return self.lock_page(request, who, device_id, error=exc)
        done = "converted to a managed code" if action == "convert" else "being deleted"
        return self.back(f"{PREFIX}/locks/{device_id}", f"Unmanaged code {done}")

    # -- events -------------------------------------------------------------------------

    def recent_events(
        self,
        who: Operator,
        device_id: str | None = None,
        access_code_id: str | None = None,
        event_type: str | None = None,
        after: int | None = None,
        limit: int = FEED_LIMIT,
    ) -> list[tuple[int, dict[str, Any]]]:
        """The workspace's newest events, newest first, with their sequence numbers (the
        feed's cursor): ``events/list`` reads oldest first from a time, which a live feed
        on a clock that may stand still cannot page through."""
        stmt = select(Event.seq, Event.payload).where(Event.workspace_id == who.workspace_id)
        if device_id:
            stmt = stmt.where(Event.device_id == device_id)
        if access_code_id:
            stmt = stmt.where(Event.access_code_id == access_code_id)
        if event_type:
            stmt = stmt.where(Event.event_type == event_type)
        if after is not None:
            stmt = stmt.where(Event.seq > after)
        stmt = stmt.order_by(Event.seq.desc()).limit(limit)
        with self.services.db.rows() as conn:
            return [(row.seq, dict(row.payload)) for row in conn.execute(stmt)]

    def _event_context(
        self, request: Request, who: Operator, all_codes: bool
    ) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
        """Lock names, code names (every code of the filtered locks for the page's
        filter, or none: the feed's rows name theirs) and the filters asked for."""
        devices = self.api(request, who, "/devices/list")["devices"]
        device_names = {d["device_id"]: d["display_name"] for d in devices}
        filters = {
            k: (request.query_params.get(k) or "").strip()
            for k in ("device_id", "access_code_id", "event_type")
        }
        names: dict[str, str] = {}
        for device in devices if all_codes else []:
            if filters["device_id"] and device["device_id"] != filters["device_id"]:
                continue
            for path in ("/access_codes/list", "/access_codes/unmanaged/list"):
                for code in self.api(request, who, path, device_id=device["device_id"])[
                    "access_codes"
                ]:
                    names[code["access_code_id"]] = code["name"] or "unnamed"
        return device_names, names, filters

    def _code_names(
        self, request: Request, who: Operator, events: list[tuple[int, dict[str, Any]]]
    ) -> dict[str, str]:
        """The names of the codes ``events`` mention (managed, else unmanaged; a code
        deleted since is shown by its id)."""
        ids = sorted({str(e["access_code_id"]) for _, e in events if e.get("access_code_id")})
        if not ids:
            return {}
        found = self.api(request, who, "/access_codes/list", access_code_ids=ids)
        names = {c["access_code_id"]: c["name"] or "unnamed" for c in found["access_codes"]}
        for code_id in ids:
            if code_id in names:
                continue
            try:
                code = self.api(
                    request, who, "/access_codes/unmanaged/get", access_code_id=code_id
                )["access_code"]
            except SeamError:
                continue
            names[code_id] = code["name"] or "unnamed"
        return names

    def _filtered(
        self, who: Operator, filters: dict[str, str], after: int | None = None
    ) -> list[tuple[int, dict[str, Any]]]:
        return self.recent_events(
            who,
            device_id=filters["device_id"] or None,
            access_code_id=filters["access_code_id"] or None,
            event_type=filters["event_type"] or None,
            after=after,
        )

    def events(self, request: Request, who: Operator, form: FormData | None) -> Response:
        device_names, names, filters = self._event_context(request, who, all_codes=True)
        events = self._filtered(who, filters)
        names = {**self._code_names(request, who, events), **names}
        return self.render(
            request,
            who,
            "events.html",
            events=events,
            device_names=device_names,
            names=names,
            filters=filters,
            event_types=sorted({*KNOWN_EVENT_TYPES, REVEALED}),
            last_seq=events[0][0] if events else 0,
            summary=views.event_summary,
        )

    def event_rows(self, request: Request, who: Operator, form: FormData | None) -> Response:
        """The feed's newer rows (an HTML fragment) for the page's poller."""
        device_names, _, filters = self._event_context(request, who, all_codes=False)
        try:
            after = int(request.query_params.get("after") or "0")
        except ValueError:
            after = 0
        events = self._filtered(who, filters, after)
        names = self._code_names(request, who, events)
        response = self.render(
            request,
            who,
            "event_rows.html",
            events=events,
            device_names=device_names,
            names=names,
            summary=views.event_summary,
        )
        response.headers["X-Last-Seq"] = str(events[0][0] if events else after)
        response.headers["Cache-Control"] = "no-store"
        return response

    # -- webhooks -----------------------------------------------------------------------

    def webhooks(
        self,
        request: Request,
        who: Operator,
        form: FormData | None,
        error: SeamError | None = None,
        values: dict[str, str] | None = None,
    ) -> Response:
        hooks = self.api(request, who, "/webhooks/list")["webhooks"]
        return self.render(
            request,
            who,
            "webhooks.html",
            status=error.status if error is not None else 200,
            error=error.message if error is not None else None,
            webhooks=hooks,
            values=values or {"url": "", "event_types": ""},
        )

    def create_webhook(self, request: Request, who: Operator, form: FormData | None) -> Response:
        values = {k: _form_text(form, k) for k in ("url", "event_types")}
        types = [t.strip() for t in values["event_types"].replace(",", " ").split() if t.strip()]
        try:
            made = self.api(
                request, who, "/webhooks/create", url=values["url"], event_types=types or None
            )["webhook"]
        except SeamError as exc:
            return self.webhooks(request, who, form, error=exc, values=values)
        return self.back(f"{PREFIX}/webhooks/{made['webhook_id']}", "Webhook created")

    def webhook(
        self,
        request: Request,
        who: Operator,
        form: FormData | None,
        error: SeamError | None = None,
    ) -> Response:
        webhook_id = request.path_params["webhook_id"]
        try:
            hook = self.api(request, who, "/webhooks/get", webhook_id=webhook_id)["webhook"]
        except SeamError as exc:
            return self.not_found(request, who, exc)
        deliveries = self.api(request, who, "/webhooks/deliveries/list", webhook_id=webhook_id)[
            "webhook_deliveries"
        ]
        return self.render(
            request,
            who,
            "webhook.html",
            status=error.status if error is not None else 200,
            error=error.message if error is not None else None,
            webhook=hook,
            deliveries=deliveries,
            parse=views.parse_instant,
        )

    def webhook_action(self, request: Request, who: Operator, form: FormData | None) -> Response:
        webhook_id = request.path_params["webhook_id"]
        action = _form_text(form, "action")
        try:
            if action == "delete":
                self.api(request, who, "/webhooks/delete", webhook_id=webhook_id)
                return self.back(f"{PREFIX}/webhooks", "Webhook deleted")
            if action == "replay":
                queued = self.api(
                    request,
                    who,
                    "/webhooks/deliveries/replay",
                    webhook_id=webhook_id,
                    event_id=_form_text(form, "event_id"),
                )["webhook_deliveries_queued"]
                return self.back(
                    f"{PREFIX}/webhooks/{webhook_id}", f"Replay queued ({queued} delivery)"
                )
        except SeamError as exc:
            if exc.type == "webhook_not_found":
                return self.not_found(request, who, exc)
            return self.webhook(request, who, form, error=exc)
        return self._plain("Unknown webhook action", 400)


def mount_console(app: Any, services: Services, endpoints: Sequence[Endpoint]) -> None:
    """Serve the console under ``/console`` on ``app``."""
    app.router.routes.extend(Console(services, endpoints).routes())
