import pytest
from cryptography.fernet import Fernet

from crypto.secret_box import SecretBox, SecretBoxError

KEY = "priv_0123456789abcdef0123456789ab3df3"


def test_round_trip_with_a_passphrase():
    box = SecretBox(["a passphrase from odoo.conf"])
    token = box.encrypt(KEY)
    assert KEY not in token
    assert box.decrypt(token) == KEY


def test_round_trip_with_a_fernet_key():
    box = SecretBox([Fernet.generate_key().decode()])
    assert box.decrypt(box.encrypt(KEY)) == KEY


def test_same_text_encrypts_differently_each_time():
    box = SecretBox(["s"])
    assert box.encrypt(KEY) != box.encrypt(KEY)


def test_wrong_secret_cannot_decrypt_and_says_nothing_of_the_token():
    token = SecretBox(["old"]).encrypt(KEY)
    with pytest.raises(SecretBoxError) as failure:
        SecretBox(["new"]).decrypt(token)
    assert token not in str(failure.value)


def test_rotation_keeps_old_tokens_readable_and_moves_them_to_the_new_secret():
    old_token = SecretBox(["old"]).encrypt(KEY)
    rotated_box = SecretBox(["new", "old"])
    assert rotated_box.decrypt(old_token) == KEY
    new_token = rotated_box.rotate(old_token)
    assert SecretBox(["new"]).decrypt(new_token) == KEY


def test_no_secret_is_a_programming_error():
    with pytest.raises(ValueError):
        SecretBox(["", "  "])
