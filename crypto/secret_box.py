"""Encrypt the API key and webhook secret at rest, with rotation.

Each configured secret is either a Fernet key or any passphrase (stretched
with HKDF). The first encrypts; all of them decrypt, so a new secret can be
put in front and old tokens re-encrypted at leisure.
"""

import base64
import binascii

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_HKDF_INFO = b"billwerk_connector secret box v1"


class SecretBoxError(Exception):
    """A token that none of the configured secrets opens."""


def _fernet_for(secret):
    try:
        raw = base64.urlsafe_b64decode(secret.encode())
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) == 32:
        return Fernet(secret.encode())
    derived = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=_HKDF_INFO,
        backend=default_backend(),
    ).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


class SecretBox:
    def __init__(self, secrets):
        secrets = [s.strip() for s in secrets if s and s.strip()]
        if not secrets:
            raise ValueError("SecretBox needs at least one secret")
        self._fernet = MultiFernet([_fernet_for(secret) for secret in secrets])

    def encrypt(self, text):
        return self._fernet.encrypt(text.encode()).decode()

    def decrypt(self, token):
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except (InvalidToken, AttributeError, TypeError):
            raise SecretBoxError(
                "The stored secret cannot be decrypted with the configured "
                "encryption secret."
            ) from None

    def rotate(self, token):
        """Re-encrypt ``token`` with the first (newest) secret."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise SecretBoxError("The stored secret cannot be rotated.") from None
