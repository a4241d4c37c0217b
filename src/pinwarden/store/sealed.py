"""Secrets at rest: PINs and webhook secrets are sealed with AES-GCM before they reach the
database, and found again through a keyed digest, never by decrypting a table.

A sealed value reads ``pw1.<key id>.<nonce + ciphertext, base64url>``. The column it lives in
is the associated data, so a value copied into another column does not open. The key id is
the first 8 hex digits of the key's SHA-256, so a value names the key that opens it. Lookups
by PIN compare :func:`digest` columns: HMAC-SHA256 under a key derived from each key, so
during a rotation a lookup tries the digest under every key still held.

Keys come from ``PINWARDEN_SECRET_KEY`` (one or more base64url keys, comma-separated, the
first one current) or else from a key file (``PINWARDEN_SECRET_KEY_FILE``, default
``pinwarden.key`` in the working directory, one key per line, the first one current),
created with mode 0600 on first start. A process holds one keyring (:func:`keys`); the file
is looked at again when it changes, so a rotation reaches running processes.
"""

from __future__ import annotations

import base64
import fcntl
import functools
import hashlib
import hmac
import logging
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import ColumnElement, Text, event
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator

from pinwarden.config import Settings

log = logging.getLogger(__name__)

PREFIX = "pw1"
DEFAULT_KEY_FILE = "pinwarden.key"
_NONCE = 12
# How often a process looks at its key file's modification time, at most.
_RELOAD_EVERY = 1.0


class SecretKeyError(RuntimeError):
    """The keys needed to open the database's secrets are missing or unreadable."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_key() -> str:
    """A fresh 256-bit key, as written in the key file or the environment."""
    return _b64(secrets.token_bytes(32))


@dataclass(frozen=True)
class _Key:
    key_id: str
    aead: AESGCM
    digest_key: bytes


def _parse_key(text: str, origin: str) -> _Key:
    wrong = f"{origin}: a key must be 32 bytes, base64url-encoded (`pinwarden keys new` makes one)"
    try:
        raw = _unb64(text.strip())
    except ValueError as exc:
        raise SecretKeyError(wrong) from exc
    if len(raw) != 32:
        raise SecretKeyError(wrong)
    return _Key(
        key_id=hashlib.sha256(raw).hexdigest()[:8],
        aead=AESGCM(raw),
        digest_key=hmac.new(raw, b"pinwarden digest v1", hashlib.sha256).digest(),
    )


class Keyring:
    """The keys a process holds; the first seals, all of them open."""

    def __init__(self, texts: Iterable[str], origin: str) -> None:
        self.texts = [t.strip() for t in texts if t.strip()]
        parsed = [_parse_key(t, origin) for t in self.texts]
        if not parsed:
            raise SecretKeyError(f"{origin}: no key given")
        self.origin = origin
        self._current = parsed[0]
        self._by_id = {k.key_id: k for k in reversed(parsed)}
        # Every read opens the same values again (a list of 50 codes, 50 PINs); a value's
        # clear text never changes, and the process holds it while serving it anyway.
        self._opened = functools.lru_cache(maxsize=1 << 16)(self._open)

    @property
    def current_id(self) -> str:
        """The id of the key that seals new values."""
        return self._current.key_id

    @property
    def key_ids(self) -> list[str]:
        """Every key id held, the current one first."""
        return [self._current.key_id, *(k for k in self._by_id if k != self._current.key_id)]

    def seal(self, value: str, purpose: str) -> str:
        """``value`` encrypted under the current key, bound to ``purpose`` (its column)."""
        nonce = os.urandom(_NONCE)
        body = self._current.aead.encrypt(nonce, value.encode(), purpose.encode())
        return f"{PREFIX}.{self._current.key_id}.{_b64(nonce + body)}"

    def open(self, token: str, purpose: str, cache: bool = True) -> str:
        """The clear text of a sealed value; raises :class:`SecretKeyError` when no key held
        opens it. ``cache``: keep it for the next read (short values that are read often)."""
        return self._opened(token, purpose) if cache else self._open(token, purpose)

    def _open(self, token: str, purpose: str) -> str:
        prefix, _, rest = token.partition(".")
        key_id, _, body = rest.partition(".")
        if prefix != PREFIX:
            raise SecretKeyError(f"a {purpose} value in the database is not sealed")
        key = self._by_id.get(key_id)
        if key is None:
            raise SecretKeyError(f"a {purpose} value is sealed with key {key_id}, not given")
        try:
            raw = _unb64(body)
        except ValueError as exc:
            raise SecretKeyError(f"a {purpose} value in the database is damaged") from exc
        try:
            return key.aead.decrypt(raw[:_NONCE], raw[_NONCE:], purpose.encode()).decode()
        except InvalidTag as exc:
            raise SecretKeyError(f"a {purpose} value does not open with key {key_id}") from exc

    def digest(self, value: str) -> str:
        """The keyed digest of ``value`` under the current key (what is stored). It names
        its key, as a sealed value does, so a rotation finds digests left under an old one."""
        return self._digest(self._current, value)

    def digests(self, value: str) -> list[str]:
        """``value``'s digest under every key held (what a lookup compares)."""
        return [self._digest(k, value) for k in self._by_id.values()]

    def merged(self, older: Keyring) -> Keyring:
        """This keyring, also holding ``older``'s keys: a running process never lets go of a
        key it held, so a value sealed under it in flight still opens."""
        return Keyring([*self.texts, *(t for t in older.texts if t not in self.texts)], self.origin)

    @staticmethod
    def _digest(key: _Key, value: str) -> str:
        mac = hmac.new(key.digest_key, value.encode(), hashlib.sha256).digest()[:16]
        return f"{key.key_id}.{_b64(mac)}"


def read_key_file(path: Path) -> list[str]:
    """The keys in a key file, current first, ignoring blank lines and ``#`` comments."""
    lines = path.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


_HEADER = "# pinwarden secret keys: the first one seals, all of them open. Keep safe.\n"


def _write_synced(fd: int, keys: list[str]) -> None:
    with os.fdopen(fd, "w") as f:
        f.write(_HEADER + "".join(f"{k}\n" for k in keys))
        f.flush()
        os.fsync(f.fileno())


def _sync_dir(path: Path) -> None:
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_key_file(path: Path, keys: list[str]) -> None:
    """Replace the key file with ``keys`` (current first), readable by the owner only, on
    disk before this returns: a key lost in a crash is a database that cannot be read."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.fchmod(fd, 0o600)
    _write_synced(fd, keys)
    os.replace(tmp, path)
    _sync_dir(path)


def retired_file(path: Path) -> Path:
    """Where a rotation keeps the keys it retired (backups made before it need them)."""
    return path.with_name(path.name + ".retired")


def retire_keys(path: Path, keys: list[str]) -> None:
    """Add ``keys`` to the retired-keys file next to the key file ``path``."""
    archive = retired_file(path)
    held = read_key_file(archive) if archive.exists() else []
    write_key_file(archive, [*held, *(k for k in keys if k not in held)])


@contextmanager
def rotation_lock(path: Path) -> Iterator[None]:
    """Held for a whole rotation, so two at once cannot drop each other's keys."""
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def create_key_file(path: Path) -> bool:
    """Create the key file with a new key unless it exists; whether this call made it.
    Two processes starting together on a new install end up with the same key."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    _write_synced(fd, [new_key()])
    _sync_dir(path)
    return True


@dataclass(frozen=True)
class KeySource:
    """Where a process takes its keys from: the environment's value, else a file."""

    value: str | None
    file: Path

    @classmethod
    def from_env(cls) -> KeySource:
        """The source ``PINWARDEN_SECRET_KEY`` / ``PINWARDEN_SECRET_KEY_FILE`` name."""
        return cls(
            os.environ.get("PINWARDEN_SECRET_KEY") or None,
            Path(os.environ.get("PINWARDEN_SECRET_KEY_FILE") or DEFAULT_KEY_FILE),
        )

    def load(self, create: bool = True) -> Keyring:
        """The keyring; a missing key file is created with a new key when ``create``."""
        if self.value is not None:
            return Keyring(self.value.split(","), "PINWARDEN_SECRET_KEY")
        if not create and not self.file.exists():
            raise SecretKeyError(f"the key file {self.file} does not exist")
        if create and create_key_file(self.file):
            log.warning(
                "made a new secret key in %s: back it up apart from the database, which "
                "cannot be read without it",
                self.file.resolve(),
            )
        try:
            return Keyring(read_key_file(self.file), str(self.file))
        except OSError as exc:
            raise SecretKeyError(f"cannot read the key file {self.file}: {exc}") from exc


def key_source(settings: Settings) -> KeySource:
    """Where ``settings`` says keys come from."""
    default = KeySource.from_env()
    if settings.secret_key is None and settings.secret_key_file is None:
        return default
    file = Path(settings.secret_key_file) if settings.secret_key_file else default.file
    return KeySource(settings.secret_key, file)


class _Holder:
    """The process's keyring, loaded on first use and again when its key file changes."""

    def __init__(self, reload_every: float = _RELOAD_EVERY) -> None:
        self._reload_every = reload_every
        self._lock = threading.Lock()
        self._source: KeySource | None = None
        self._ring: Keyring | None = None
        self._mtime: float | None = None
        self._checked = 0.0

    def use(self, source: KeySource) -> Keyring:
        """Take keys from ``source`` from now on (a process does this once, at start)."""
        with self._lock:
            self._source = source
            self._ring = source.load()
            self._mtime = self._file_mtime()
            self._checked = time.monotonic()
            return self._ring

    def get(self) -> Keyring:
        ring = self._ring
        if ring is not None and time.monotonic() - self._checked < self._reload_every:
            return ring
        with self._lock:
            if self._source is None:
                self._source = KeySource.from_env()
            mtime = self._file_mtime()
            if self._ring is None:
                self._ring = self._source.load()
            elif mtime != self._mtime:
                self._ring = self._reloaded(self._source, self._ring)
            self._mtime = mtime
            self._checked = time.monotonic()
            return self._ring

    @staticmethod
    def _reloaded(source: KeySource, held: Keyring) -> Keyring:
        """The changed key file's keys, plus every key held so far. A file that is gone or
        unreadable changes nothing: a running process never makes a key of its own."""
        try:
            return source.load(create=False).merged(held)
        except (SecretKeyError, OSError) as exc:
            log.error("kept the keys already held: the key file cannot be read now: %s", exc)
            return held

    def _file_mtime(self) -> float | None:
        if self._source is None or self._source.value is not None:
            return None
        try:
            return self._source.file.stat().st_mtime
        except OSError:
            return None


_HOLDER = _Holder()


def use(source: KeySource) -> Keyring:
    """Make ``source`` the process's key source; returns the keyring."""
    return _HOLDER.use(source)


def keys() -> Keyring:
    """The process's keyring (from the environment's source unless :func:`use` said)."""
    return _HOLDER.get()


def digest(value: str | None) -> str | None:
    """The stored digest of a PIN (None for None)."""
    return None if value is None else keys().digest(value)


def keep_digest(attribute: Any, digest_name: str) -> None:
    """Keep ``digest_name`` the digest of the mapped ``attribute`` whenever the ORM sets it."""

    @event.listens_for(attribute, "set", retval=False)
    def _set(target: Any, value: str | None, _old: Any, _initiator: Any) -> None:
        setattr(target, digest_name, digest(value))


def matches(column: Any, value: str) -> ColumnElement[bool]:
    """``column`` (a digest column) holds the digest of ``value`` under any key held."""
    found: ColumnElement[bool] = column.in_(keys().digests(value))
    return found


# Ciphertexts are random: only IS [NOT] NULL means anything in SQL.
_ALLOWED = {operators.is_, operators.is_not}


class _Refusing(TypeDecorator.Comparator[Any]):
    def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
        if op not in _ALLOWED:
            raise TypeError("a sealed column cannot be compared in SQL; use its digest")
        return super().operate(op, *other, **kwargs)


class Sealed(TypeDecorator[str]):
    """A string column stored sealed. Comparing it in SQL is refused: ciphertexts are
    random, so compare its digest column instead (:func:`matches`)."""

    impl = Text
    cache_ok = True
    comparator_factory = _Refusing

    def __init__(self, purpose: str) -> None:
        super().__init__()
        self.purpose = purpose

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else keys().seal(value, self.purpose)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else keys().open(value, self.purpose)


class SealedJSON(TypeDecorator[Any]):
    """A JSON value stored sealed (payloads that may carry a PIN)."""

    impl = Text
    cache_ok = True
    comparator_factory = _Refusing

    def __init__(self, purpose: str) -> None:
        super().__init__()
        self.purpose = purpose

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return keys().seal(orjson.dumps(value).decode(), self.purpose)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return orjson.loads(keys().open(value, self.purpose, cache=False))
