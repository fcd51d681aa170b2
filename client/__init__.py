"""Billwerk+ Optimize HTTP client: plain Python, never imports odoo."""
