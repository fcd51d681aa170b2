"""Amounts <-> minor units, both ways, exactly: the books compare integers."""

import random

import pytest

from mapping.money import amount_to_minor, minor_to_amount, minor_to_text


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        (0.29, "DKK", 29),  # 0.28999999999999998 as a float
        (1.1, "EUR", 110),  # 1.1000000000000001 as a float
        (123.45, "DKK", 12345),
        (1.234, "KWD", 1234),
        (12345.0, "JPY", 12345),
        (-400.0, "DKK", -40000),
        (0.0, "EUR", 0),
    ],
)
def test_amount_to_minor_is_exact(amount, currency, minor):
    assert amount_to_minor(amount, currency) == minor


def test_every_minor_amount_survives_the_round_trip():
    rng = random.Random(7)
    for currency in ("DKK", "JPY", "KWD"):
        for _ in range(20000):
            minor = rng.randrange(-(10**9), 10**9)
            assert amount_to_minor(minor_to_amount(minor, currency), currency) == minor


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (20000, "DKK", "200.00"),
        (5, "KWD", "0.005"),
        (160, "JPY", "160"),
        (-7, "EUR", "-0.07"),
    ],
)
def test_messages_show_the_currencys_decimals(minor, currency, text):
    assert minor_to_text(minor, currency) == text


def test_none_stays_none():
    assert amount_to_minor(None, "EUR") is None
