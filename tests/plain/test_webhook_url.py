"""Whether Billwerk could deliver webhooks to ``web.base.url``."""

import pytest

from client.webhook_url import base_url_problem


@pytest.mark.parametrize(
    "url, problem",
    [
        ("https://odoo.example.com", None),
        ("https://erp.example.dk:8443/odoo", None),
        ("http://odoo.example.com", "plain_http"),
        ("http://localhost:8069", "local"),
        ("https://127.0.0.1", "local"),
        ("http://[::1]:8069", "local"),
        ("http://0.0.0.0:8069", "local"),
        ("https://app.localhost", "local"),
        ("https://10.0.0.5", "private"),
        ("https://192.168.1.20:8069", "private"),
        ("https://172.16.4.1", "private"),
        ("https://169.254.1.1", "private"),
        ("https://[fd00::1]", "private"),
        ("https://odoo", "private"),
        ("https://odoo.internal", "private"),
        ("https://nas.local", "private"),
        ("", "missing"),
        (None, "missing"),
        ("ftp://odoo.example.com", "missing"),
        ("odoo.example.com", "missing"),
    ],
)
def test_base_url_problem(url, problem):
    assert base_url_problem(url) == problem
