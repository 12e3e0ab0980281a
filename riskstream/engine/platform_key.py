"""The platform's secret for matching lots across lenders (`riskstream.engine.cross_lender`).

The cross-lender matcher sees every lender's identifying facts (device serials, RFID
tags, site locations, weight changes) only as HMAC-SHA256 values keyed with this secret,
which no lender has. It is, first found:

1. ``RISKSTREAM_PLATFORM_KEY`` (the ``platform_key`` setting), at least
   `MIN_KEY_CHARS` characters, e.g. the output of ``openssl rand -hex 32``;
2. the key file ``platform.key`` next to the engine checkpoint, made at the first start
   with 32 random bytes in hex, mode 0600, exactly as the checkpoint key
   (`riskstream.engine.checkpoint_key`) is;
3. with checkpoints off, a random key for the life of the process (nothing hashed with it
   outlives the process then).

Keep it as secret as the checkpoint key: whoever has it can test a guessed serial, tag or
place against the hashes in a checkpoint.
"""

import secrets
from pathlib import Path

from pydantic import SecretStr

from riskstream.engine.checkpoint_key import NEW_KEY_BYTES, key_from_environment, key_in_file

KEY_FILE = "platform.key"
ENV_VAR = "RISKSTREAM_PLATFORM_KEY"


def platform_key_file_for(checkpoint: Path) -> Path:
    """Where the platform key file of the checkpoint file ``checkpoint`` lives."""
    return checkpoint.parent / KEY_FILE


def load_platform_key(env_key: SecretStr | None, checkpoint: Path | None) -> bytes:
    """The platform key: ``env_key`` if set, else the key file next to ``checkpoint``
    (made if missing), else (no checkpoint) a random key of this process.

    Raises:
        ValueError: ``env_key`` is shorter than `MIN_KEY_CHARS`.
        CheckpointKeyError: the key file cannot be used.
    """
    if env_key is not None:
        return key_from_environment(env_key, ENV_VAR)
    if checkpoint is None:
        return secrets.token_hex(NEW_KEY_BYTES).encode()
    return key_in_file(platform_key_file_for(checkpoint), what="platform key")
