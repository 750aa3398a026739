"""Secret keys at rest.

AK/SK verification needs the secret key itself (it is an HMAC key), so it cannot be stored as a
one-way hash: it is encrypted with Fernet (AES-128-CBC + HMAC, from ``cryptography``) under a
master key.  The master key comes from ``SMSGATE_MASTER_KEY`` or from ``master.key`` in the
data directory (beside the SQLite file), created 0600 only for a store that holds no secret yet:
:func:`box_for_store` refuses a key that does not open the store's secrets, so a process started
from the wrong directory stops with one line instead of answering every signed request with an
error.  Tokens, which the service only compares, are kept as SHA-256 hashes.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken

if TYPE_CHECKING:
    from smsgate.config import Settings


class MasterKeyError(ValueError):
    """The master key does not fit the store; the message says which setting to fix."""


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def for_data_dir(cls, data_dir: Path, master_key: str | None = None) -> SecretBox:
        """The box of ``master_key`` (``Settings.master_key``) if given, else of
        ``master.key`` in ``data_dir`` (created when missing), unchecked: for set-ups
        (tests, benchmarks) that make a store; a process opening one uses
        :func:`box_for_store`."""
        if master_key:
            return cls(master_key.encode())
        return cls(_load_or_create_key(data_dir / "master.key"))

    def seal(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def open(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken as exc:
            raise RuntimeError("secret cannot be decrypted: wrong master key?") from exc

    def opens(self, sealed: bytes) -> bool:
        try:
            self._fernet.decrypt(sealed)
        except InvalidToken:
            return False
        return True


def box_for_store(settings: Settings, sealed: Sequence[tuple[str, bytes]]) -> SecretBox:
    """The box of the store whose secrets are ``sealed`` (``Store.sealed_secrets``): from
    ``SMSGATE_MASTER_KEY``, else from ``master.key`` in the data directory, made there only if
    the store holds no secret yet.  A key that does not open every one of them is refused with
    :class:`MasterKeyError`: serving with it would fail every request that needs one."""
    store = settings.store_name
    if settings.master_key:
        source, fix = "SMSGATE_MASTER_KEY", "set SMSGATE_MASTER_KEY to the key they were sealed with"
        key = settings.master_key.encode()
    else:
        path = (settings.secrets_dir / "master.key").resolve()
        source = str(path)
        if settings.is_postgres:
            fix = ("start from the directory the store was set up in, or set --data-dir"
                   " (SMSGATE_DATA_DIR) to the directory holding its master.key, or"
                   " SMSGATE_MASTER_KEY to the key")
        else:
            fix = "put the store's own master.key beside it, or set SMSGATE_MASTER_KEY to the key"
        try:
            key = path.read_bytes().strip()
        except FileNotFoundError:
            if sealed:
                raise MasterKeyError(
                    f"{store} holds secrets sealed with a master key, but there is no {path}: {fix}"
                ) from None
            key = _create_key(path)
    try:
        box = SecretBox(key)
    except ValueError:
        raise MasterKeyError(f"the master key in {source} is not a Fernet key (44 characters of"
                             " URL-safe base64, as `smsgate` makes them)") from None
    shut = [label for label, secret in sealed if not box.opens(secret)]
    if shut:
        raise MasterKeyError(
            f"the master key from {source} does not open {len(shut)} of the {len(sealed)} secrets"
            f" in {store} ({shut[0]}{', ...' if len(shut) > 1 else ''}): {fix}"
        )
    return box


def _load_or_create_key(path: Path) -> bytes:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        return _create_key(path)


def _create_key(path: Path) -> bytes:
    """A new key in ``path`` (0600), or the one another process put there first.  The file
    appears whole (written aside, then linked in place), never empty or half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(key)
            f.flush()
            os.fsync(f.fileno())
        os.link(aside, path)
    except FileExistsError:  # another process made it first
        return path.read_bytes().strip()
    finally:
        aside.unlink(missing_ok=True)
    return key


def new_access_key() -> str:
    """20 upper-case alphanumerics, the shape of Huawei's AKs."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(20))


def new_secret_key() -> str:
    return secrets.token_urlsafe(30)


def new_token() -> str:
    return "MI" + secrets.token_urlsafe(48)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
