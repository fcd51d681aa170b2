import pytest

from client.api_key import MAX_KEY_LENGTH, InvalidApiKey, key_hint, normalize_api_key

KEY = "priv_0123456789abcdef0123456789ab3df3"


def test_surrounding_white_space_is_stripped():
    assert normalize_api_key(f"  {KEY}\n") == KEY


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   \t ", "empty"),
        (None, "empty"),
        ("x" * (MAX_KEY_LENGTH + 1), "too_long"),
        ("priv_abc\ndef", "control_character"),
        ("priv_abc\x00def", "control_character"),
        ("priv_abc\u200bdef", "control_character"),
        ("priv_abc def", "inner_space"),
        ("priv_0123456789abcdef€", "not_ascii"),
        ("priv_0123456789abcdef\U0001f600", "not_ascii"),
        ("priv_0123456789abcdefé", "not_ascii"),
        ("pub_0123456789abcdef0123456789ab3df3", "public_key"),
    ],
)
def test_malformed_keys_are_refused_with_a_reason(raw, reason):
    with pytest.raises(InvalidApiKey) as refused:
        normalize_api_key(raw)
    assert refused.value.reason == reason
    assert str(refused.value)  # a sentence a user can read
    if raw and raw.strip():
        assert raw.strip() not in str(refused.value)
        assert raw.strip() not in repr(refused.value.args)


def test_the_reasons_callers_translate_in_check_order():
    reasons = ["empty", "too_long", "control_character", "inner_space"]
    reasons += ["not_ascii", "public_key"]
    assert list(InvalidApiKey.MESSAGES) == reasons


def test_a_key_of_exactly_the_maximum_length_is_accepted():
    assert normalize_api_key("k" * MAX_KEY_LENGTH) == "k" * MAX_KEY_LENGTH


def test_hint_shows_prefix_and_last_four_only():
    assert key_hint(KEY) == "priv_…3df3"
    assert KEY[5:-4] not in key_hint(KEY)
    assert key_hint("short") == "…"
