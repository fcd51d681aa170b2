"""Errors a caller can act on: each names its cause, never the API key.

Messages never contain the API URL either: it may carry a proxy's user name
and password, and the caller knows which URL it configured and who may see it.
"""


class BillwerkError(Exception):
    """Base class: carries the HTTP status and Billwerk's request id."""

    def __init__(self, message, *, status=None, request_id=None, code=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.request_id = request_id
        self.code = code

    def __str__(self):
        details = []
        if self.status:
            details.append(f"HTTP {self.status}")
        if self.code is not None:
            details.append(f"code {self.code}")
        if self.request_id:
            details.append(f"request id {self.request_id}")
        return f"{self.message} ({', '.join(details)})" if details else self.message


class KeyRejected(BillwerkError):
    """401/403: the key is wrong, revoked or lacks the scope."""


class NotFound(BillwerkError):
    """404: the object (or path) does not exist in this account."""


class RequestRejected(BillwerkError):
    """Other 4xx: Billwerk refused the parameters; retrying will not help."""


class RateLimited(BillwerkError):
    """429 that outlived the retry budget."""


class ServerError(BillwerkError):
    """5xx that outlived the retry budget."""


class NetworkError(BillwerkError):
    """Timeout, refused or dropped connection that outlived the retry budget."""


class MalformedResponse(BillwerkError):
    """A 2xx answer that is not the JSON Billwerk documents."""


class InvalidUrl(BillwerkError):
    """The API URL cannot be requested at all (scheme, host or port); never retried."""


class UnexpectedRedirect(BillwerkError):
    """3xx: the API never redirects, so the URL leads elsewhere; never followed."""
