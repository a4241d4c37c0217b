"""Sealing PINs and secrets (store/sealed.py): AES-GCM with the column as associated data,
keyed digests for lookups, and key sources."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, Table

from pinwarden.store.sealed import (
    PREFIX,
    Keyring,
    KeySource,
    Sealed,
    SealedJSON,
    SecretKeyError,
    _Holder,
    new_key,
    read_key_file,
    write_key_file,
)

A, B = new_key(), new_key()


def test_a_sealed_value_opens_only_in_its_own_column() -> None:
    ring = Keyring([A], "test")
    token = ring.seal("482193", "access_codes.code")
    assert token.startswith(f"{PREFIX}.{ring.current_id}.")
    assert "482193" not in token
    assert ring.open(token, "access_codes.code") == "482193"
    with pytest.raises(SecretKeyError, match="does not open"):
        ring.open(token, "webhooks.secret")


def test_sealing_is_randomized_but_digests_are_stable() -> None:
    ring = Keyring([A], "test")
    assert ring.seal("1234", "p") != ring.seal("1234", "p")
    assert ring.digest("1234") == ring.digest("1234") != ring.digest("1235")
    assert ring.digest("1234") != Keyring([B], "test").digest("1234")


def test_old_keys_open_and_match_until_dropped() -> None:
    old = Keyring([A], "test")
    token, digest = old.seal("5555", "p"), old.digest("5555")
    rotated = Keyring([B, A], "test")
    assert rotated.current_id != old.current_id
    assert rotated.key_ids == [rotated.current_id, old.current_id]
    assert rotated.open(token, "p") == "5555"
    assert digest in rotated.digests("5555")
    assert rotated.seal("5555", "p").startswith(f"{PREFIX}.{rotated.current_id}.")
    with pytest.raises(SecretKeyError, match=f"key {old.current_id}, not given"):
        Keyring([B], "test").open(token, "p")


def test_a_clear_value_or_a_bad_key_is_refused() -> None:
    ring = Keyring([A], "test")
    with pytest.raises(SecretKeyError, match="not sealed"):
        ring.open("1234", "p")
    with pytest.raises(SecretKeyError, match="32 bytes"):
        Keyring(["c2hvcnQ"], "PINWARDEN_SECRET_KEY")
    with pytest.raises(SecretKeyError, match="no key"):
        Keyring([" "], "PINWARDEN_SECRET_KEY")


def test_the_key_file_is_created_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "pinwarden.key"
    first = KeySource(None, path).load()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(read_key_file(path)) == 1
    assert KeySource(None, path).load().current_id == first.current_id
    with pytest.raises(SecretKeyError, match="does not exist"):
        KeySource(None, tmp_path / "missing.key").load(create=False)


def test_the_environment_lists_keys_current_first() -> None:
    ring = KeySource(f"{B},{A}", Path("unused")).load()
    assert ring.current_id == Keyring([B], "t").current_id
    assert len(ring.key_ids) == 2


def test_a_sealed_column_cannot_be_compared_in_sql() -> None:
    table = Table("t", MetaData(), Column("code", Sealed("t.code")), Column("j", SealedJSON("t.j")))
    for compare in (
        lambda: table.c.code == "1234",
        lambda: table.c.code.ilike("%12%"),
        lambda: table.c.code.in_(["1234"]),
        lambda: table.c.code > "1",
        lambda: table.c.j == {"a": 1},
    ):
        with pytest.raises(TypeError, match="digest"):
            compare()
    assert str(table.c.code.is_(None)) == "t.code IS NULL"


def test_a_digest_names_its_key() -> None:
    ring = Keyring([A], "test")
    assert ring.digest("1234").startswith(f"{ring.current_id}.")
    assert len(ring.digest("1234")) <= 32  # the digest columns' width


def test_a_running_process_keeps_its_keys_when_the_file_goes(tmp_path: Path) -> None:
    path = tmp_path / "pinwarden.key"
    holder = _Holder(reload_every=0)
    first = holder.use(KeySource(None, path))
    token = first.seal("1234", "p")
    write_key_file(path, [B])
    os.utime(path, (1, 1))
    rotated = holder.get()
    assert rotated.current_id != first.current_id
    assert rotated.open(token, "p") == "1234"  # the key it held is still held
    path.unlink()
    assert holder.get() is rotated  # no new key made, nothing dropped
    assert not path.exists()
