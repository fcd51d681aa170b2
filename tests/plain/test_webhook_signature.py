import hashlib
import hmac

import pytest

from client.webhook_signature import is_valid_signature

SECRET = "whsec_6f1c0b7e"
TIMESTAMP = "2026-11-25T10:15:00.000Z"
WEBHOOK_ID = "a1b2c3d4e5f6"


def _signature(secret=SECRET, timestamp=TIMESTAMP, webhook_id=WEBHOOK_ID):
    # Written out from the API notes, independently of the module under test.
    message = (timestamp + webhook_id).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def test_a_real_signature_passes():
    assert is_valid_signature(SECRET, TIMESTAMP, WEBHOOK_ID, _signature())


def test_upper_case_hex_is_the_same_signature():
    assert is_valid_signature(SECRET, TIMESTAMP, WEBHOOK_ID, _signature().upper())


@pytest.mark.parametrize(
    ("timestamp", "webhook_id"),
    [("2026-11-25T10:15:01.000Z", WEBHOOK_ID), (TIMESTAMP, "a1b2c3d4e5f7")],
)
def test_tampered_fields_fail(timestamp, webhook_id):
    assert not is_valid_signature(SECRET, timestamp, webhook_id, _signature())


def test_wrong_secret_fails():
    assert not is_valid_signature(
        SECRET, TIMESTAMP, WEBHOOK_ID, _signature(secret="other")
    )


@pytest.mark.parametrize("signature", ["", None, 12345])
def test_empty_or_odd_signature_fails(signature):
    assert not is_valid_signature(SECRET, TIMESTAMP, WEBHOOK_ID, signature)


def test_missing_secret_fails_even_for_the_matching_empty_hmac():
    empty_secret_signature = _signature(secret="")
    assert not is_valid_signature("", TIMESTAMP, WEBHOOK_ID, empty_secret_signature)
