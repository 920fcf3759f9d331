"""Encryption at rest for AMI secrets (Fernet, from the ``cryptography`` package).

``settings.FCMDASH_ENCRYPTION_KEYS`` is a list: the first key encrypts, every key decrypts, so a
key can be rotated without downtime (README, "Changing the encryption key"):
add the new key in front, run ``manage.py rotate_secrets``, then drop the old key.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with the configured keys."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise SecretUnreadable("FCMDASH_ENCRYPTION_KEYS is empty: AMI secrets cannot be stored")
    return MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FCMDASH_ENCRYPTION_KEYS))


def encrypt(plain: str) -> str:
    return _current().encrypt(plain.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _current().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError) as exc:
        raise SecretUnreadable(
            "the AMI secret cannot be decrypted with FCMDASH_ENCRYPTION_KEYS "
            "(was the key changed without rotate_secrets?)"
        ) from exc


def rotate(token: str) -> str:
    """Re-encrypt ``token`` with the first key."""
    return _current().rotate(token.encode("ascii")).decode("ascii")
