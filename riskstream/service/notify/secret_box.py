"""Webhook signing secrets sealed at rest with AES-256-GCM, under a key kept outside the
database.

The key is, first found:

1. ``RISKSTREAM_WEBHOOK_KEY`` (the ``webhook_key`` setting), at least 32 characters, e.g.
   the output of ``openssl rand -hex 32``;
2. the key file ``webhook.key`` next to the SQLite database (in ``riskstream-data/`` for
   a database server), made at the first start with 32 random bytes in hex, mode 0600,
   as the checkpoint key is (`riskstream.engine.checkpoint_key`). It is made only while
   the database holds no sealed secret: a missing key file beside sealed secrets is an
   error (`WebhookKeyError`), not a reason to make a new key that opens nothing.

A sealed secret is ``aesgcm1:`` and the URL-safe base64 of a random 96-bit nonce and the
ciphertext with its tag. The endpoint's id is the associated data, so a sealed secret
copied to another endpoint's row does not open there.
"""

import base64
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from riskstream.engine.checkpoint_key import key_from_environment, key_in_file
from riskstream.service.notify.errors import WebhookKeyError

ENV_VAR = "RISKSTREAM_WEBHOOK_KEY"
KEY_FILE = "webhook.key"
SEALED_PREFIX = "aesgcm1:"
NONCE_BYTES = 12
_KDF_LABEL = b"riskstream webhook secrets v1"
_AAD_PREFIX = b"riskstream/webhook_endpoints/"


def data_dir_of(database: str) -> Path:
    """The directory of the service's files: the SQLite database's, or ``riskstream-data``
    for a database server (as the checkpoint's default)."""
    if "://" in database:
        if database.startswith("sqlite:///") and len(database) > len("sqlite:///"):
            return Path(database.removeprefix("sqlite:///")).parent
        return Path("riskstream-data")
    return Path(database).parent


def webhook_key_file(database: str) -> Path:
    """Where the webhook key file of the service database ``database`` lives."""
    return data_dir_of(database) / KEY_FILE


def load_webhook_key(env_key: SecretStr | None, key_file: Path, *, may_create: bool) -> bytes:
    """The webhook key: ``env_key`` if set, else ``key_file`` (made if missing and
    ``may_create``).

    Raises:
        WebhookKeyError: the key is too short, or the file is missing while it may not be
            made, or it cannot be used.
    """
    if env_key is not None:
        try:
            return key_from_environment(env_key, ENV_VAR)
        except ValueError as exc:
            raise WebhookKeyError(str(exc)) from None
    if not may_create and not os.path.lexists(key_file):
        raise WebhookKeyError(
            f"the database holds sealed webhook secrets but the key file {key_file} is "
            f"missing: restore it, or set {ENV_VAR} to the key they were sealed with"
        )
    try:
        return key_in_file(key_file, what="webhook key")
    except OSError as exc:
        raise WebhookKeyError(str(exc)) from None


def env_webhook_key() -> SecretStr | None:
    """``RISKSTREAM_WEBHOOK_KEY`` from the environment, for commands without settings."""
    value = os.environ.get(ENV_VAR)
    return None if value is None else SecretStr(value)


class SecretBox:
    """Seals and opens webhook secrets under one key."""

    def __init__(self, key: bytes) -> None:
        derived = hmac.new(key, _KDF_LABEL, hashlib.sha256).digest()
        self._aead = AESGCM(derived)

    def seal(self, endpoint_id: str, secret: str) -> str:
        """``secret`` sealed for the endpoint ``endpoint_id``'s row."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode(), _aad(endpoint_id))
        return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, endpoint_id: str, sealed: str) -> str:
        """The secret sealed in ``sealed`` for ``endpoint_id``; `WebhookKeyError` when it is
        not sealed, sealed under another key, for another row, or altered."""
        if not is_sealed(sealed):
            raise WebhookKeyError(
                f"endpoint {endpoint_id}'s secret is not sealed (run riskstream db upgrade)"
            )
        try:
            raw = base64.urlsafe_b64decode(sealed.removeprefix(SEALED_PREFIX))
            plain = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(endpoint_id))
        except (InvalidTag, ValueError):
            raise WebhookKeyError(
                f"endpoint {endpoint_id}'s secret does not open with this key: the key "
                f"({ENV_VAR} or the key file) is not the one it was sealed with, or the row "
                "was altered"
            ) from None
        return plain.decode()


def is_sealed(stored: str) -> bool:
    """Whether a stored secret is sealed (else it is from before sealing, in clear)."""
    return stored.startswith(SEALED_PREFIX)


def _aad(endpoint_id: str) -> bytes:
    return _AAD_PREFIX + endpoint_id.encode()


def configured_webhook_key(env_key: SecretStr | None) -> bytes | None:
    """The key given in the settings, if any (else the key file is used when needed)."""
    if env_key is None:
        return None
    return load_webhook_key(env_key, Path(KEY_FILE), may_create=False)
