"""Encryption of secrets at rest: plain Python, never imports odoo."""
