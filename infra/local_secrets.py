"""Secrets kept in a local file of this deployment (link signing, console cookies).

Created on first use: 32 random bytes, mode 0600, in a 0700 directory, written
with ``O_EXCL`` so two processes starting together agree on one secret.
"""

from __future__ import annotations

import os
from pathlib import Path


class LocalSecretError(RuntimeError):
    """The secret file exists but cannot be used (too short: truncated or not ours)."""


def load_or_create_secret(path: Path) -> bytes:
    """Read the secret at ``path``, creating 32 random bytes (mode 0600) if missing."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_bytes()
        if len(secret) < 32:
            raise LocalSecretError(f"{path} holds fewer than 32 bytes") from None
        return secret
    secret = os.urandom(32)
    with os.fdopen(fd, "wb") as f:
        f.write(secret)
        f.flush()
        os.fsync(f.fileno())
    return secret
