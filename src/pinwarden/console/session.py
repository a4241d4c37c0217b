"""Who is signed in to the console: an API key in an HttpOnly cookie, and its CSRF token.

The cookie holds the API key itself, so every page checks it exactly as the API checks a
bearer token (one look at its row: a revoked key signs the browser out on its next
click). The CSRF token of a session is an HMAC of the key: a page can put it into its
forms, another site can neither read the cookie nor compute the token, and nothing has
to be stored on the server. The sign-in form, which has no session yet, uses a
double-submit token (a random cookie repeated in a hidden field).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from pinwarden.api.auth import ApiKeyVerifier

SESSION_COOKIE = "pinwarden_console"
LOGIN_COOKIE = "pinwarden_console_login"
COOKIE_PATH = "/console"
CSRF_FIELD = "csrf_token"
# A day: long enough for a shift, short enough that a forgotten browser signs out.
SESSION_MAX_AGE = 24 * 3600


@dataclass(frozen=True)
class Operator:
    """A signed-in browser: its workspace and the key it signed in with."""

    workspace_id: str
    is_sandbox: bool
    key_id: str
    csrf_token: str
    read_only: bool = False


def csrf_for(api_key: str) -> str:
    """The CSRF token bound to a session's key."""
    return hmac.new(api_key.encode(), b"pinwarden-console-csrf", hashlib.sha256).hexdigest()


def key_id_of(api_key: str) -> str:
    """The public id part of ``seam_<id>_<secret>`` (never the secret)."""
    return api_key.removeprefix("seam_").partition("_")[0]


def operator(request: Request, keys: ApiKeyVerifier) -> Operator | None:
    """The signed-in operator, or None when the cookie is missing, unknown or revoked."""
    api_key = request.cookies.get(SESSION_COOKIE)
    if not api_key:
        return None
    principal = keys.authenticate(f"Bearer {api_key}")
    if principal is None:
        return None
    return Operator(
        principal.workspace_id,
        principal.is_sandbox,
        principal.key_id or key_id_of(api_key),
        csrf_for(api_key),
        principal.read_only,
    )


def csrf_ok(expected: str, given: object) -> bool:
    """Whether a form's token matches, compared in constant time."""
    return isinstance(given, str) and bool(given) and hmac.compare_digest(expected, given)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def sign_in(response: Response, request: Request, api_key: str) -> None:
    """Hold ``api_key`` in the session cookie: HttpOnly, SameSite=Strict, Secure on https."""
    response.set_cookie(
        SESSION_COOKIE,
        api_key,
        max_age=SESSION_MAX_AGE,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH)


def sign_out(response: Response) -> None:
    """Forget the session cookie."""
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")


def login_token(request: Request) -> str:
    """The sign-in form's double-submit token: the one already in the browser, or new."""
    return request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)


def remember_login_token(response: Response, request: Request, token: str) -> None:
    """Put the sign-in form's token into its cookie."""
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=3600,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
