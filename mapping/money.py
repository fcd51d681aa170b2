"""Minor units -> amounts, by the ISO 4217 exponent Billwerk uses."""

from decimal import Decimal

# ISO 4217 currencies whose minor unit is not 1/100.
_EXPONENTS = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
}


def currency_exponent(currency_code):
    return _EXPONENTS.get((currency_code or "").upper(), 2)


def minor_to_amount(minor, currency_code):
    """``12345`` DKK -> ``123.45``; ``12345`` JPY -> ``12345.0``; None stays None.

    Python divides integers correctly rounded: the float nearest to the exact
    amount, as through ``Decimal`` (which cost a fifth of an invoice's mapping).
    """
    if minor is None:
        return None
    return int(minor) / 10 ** currency_exponent(currency_code)


def amount_to_minor(amount, currency_code):
    """``123.45`` DKK -> ``12345``: the exact minor units of a stored amount.

    Through the amount's shortest decimal text, so that a float such as
    0.29 (0.28999...) gives 29 and never 28.
    """
    if amount is None:
        return None
    exponent = currency_exponent(currency_code)
    return int(Decimal(repr(float(amount))).scaleb(exponent).to_integral_value())


def minor_to_text(minor, currency_code):
    """``20000`` DKK -> ``"200.00"``: for messages, with the currency's decimals."""
    exponent = currency_exponent(currency_code)
    return f"{Decimal(int(minor)).scaleb(-exponent):.{exponent}f}"
