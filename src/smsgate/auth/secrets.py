"""Secret keys at rest.

AK/SK verification needs the secret key itself (it is an HMAC key), so it cannot be stored as a
one-way hash: it is encrypted with Fernet (AES-128-CBC + HMAC, from ``cryptography``) under a
master key.  The master key comes from ``SMSGATE_MASTER_KEY`` or, on the embedded default, from
``<data_dir>/master.key`` (created 0600 on first use).  Tokens, which the service only compares,
are kept as SHA-256 hashes.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> SecretBox:
        env_key = os.environ.get("SMSGATE_MASTER_KEY")
        if env_key:
            return cls(env_key.encode())
        return cls(_load_or_create_key(data_dir / "master.key"))

    def seal(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def open(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken as exc:
            raise RuntimeError("secret cannot be decrypted: wrong master key?") from exc


def _load_or_create_key(path: Path) -> bytes:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as f:
        f.write(key)
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
