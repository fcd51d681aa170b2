"""Billwerk webhook signatures: HMAC-SHA256 over ``timestamp + id``."""

import hashlib
import hmac


def compute_signature(secret, timestamp, webhook_id):
    message = f"{timestamp}{webhook_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def is_valid_signature(secret, timestamp, webhook_id, signature):
    """Constant-time check; anything missing is simply invalid."""
    if not (secret and timestamp and webhook_id and signature):
        return False
    if not isinstance(signature, str):
        return False
    expected = compute_signature(secret, timestamp, webhook_id)
    return hmac.compare_digest(expected, signature.strip().lower())
