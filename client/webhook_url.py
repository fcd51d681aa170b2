"""Whether Billwerk can reach a URL of this server: plain Python, no Odoo."""

import ipaddress
from urllib.parse import urlsplit

# Host names that only ever name this machine or a private network.
LOCAL_NAMES = ("localhost", "localhost.localdomain")
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa")


def base_url_problem(url):
    """Why Billwerk could not deliver webhooks to ``url``, or None.

    ``"missing"``: no URL; ``"local"``: localhost or a loopback address;
    ``"private"``: a private, link-local or otherwise non-public address or
    name; ``"plain_http"``: reachable maybe, but not over HTTPS.
    """
    parts = urlsplit((url or "").strip())
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.scheme not in ("http", "https") or not host:
        return "missing"
    if host in LOCAL_NAMES or host.endswith(".localhost"):
        return "local"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        if address.is_loopback or address.is_unspecified:
            return "local"
        if not address.is_global:
            return "private"
    elif "." not in host or host.endswith(LOCAL_SUFFIXES):
        return "private"
    if parts.scheme != "https":
        return "plain_http"
    return None
