"""One place that decides what a well-formed API key is."""

import unicodedata

MAX_KEY_LENGTH = 255


class InvalidApiKey(ValueError):
    """A key refused before any request; `reason` lets callers translate."""

    MESSAGES = {
        "empty": "The API key is empty.",
        "too_long": f"The API key is longer than {MAX_KEY_LENGTH} characters.",
        "control_character": (
            "The API key contains a line break, a tab or another control character."
        ),
        "inner_space": "The API key contains a space.",
        "not_ascii": (
            "The API key contains a character that is not a plain letter, digit "
            "or sign (ASCII)."
        ),
        "public_key": (
            "This is a public key (pub_…); the connector needs the private key "
            "(priv_…)."
        ),
    }

    def __init__(self, reason):
        super().__init__(self.MESSAGES[reason])
        self.reason = reason


def normalize_api_key(raw):
    """Return the key stripped of surrounding white space, or raise InvalidApiKey."""
    key = (raw or "").strip()
    if not key:
        raise InvalidApiKey("empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidApiKey("too_long")
    if any(unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") for char in key):
        raise InvalidApiKey("control_character")
    if any(char.isspace() for char in key):
        raise InvalidApiKey("inner_space")
    # No Billwerk key goes beyond printable ASCII, and requests encodes Basic
    # auth as Latin-1: a "€" or an emoji would fail deep inside it instead.
    if not all(" " < char <= "~" for char in key):
        raise InvalidApiKey("not_ascii")
    # The API authenticates with the private key only; a public key pasted
    # instead would only be rejected later, with a vaguer message.
    if key.startswith("pub_"):
        raise InvalidApiKey("public_key")
    return key


def key_hint(key):
    """A recognisable but useless fragment, e.g. ``priv_…3df3``."""
    if not key:
        return ""
    prefix = key.split("_", 1)[0] + "_" if "_" in key[:8] else ""
    return f"{prefix}…{key[-4:]}" if len(key) > 8 else "…"
