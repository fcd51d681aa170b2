"""Billwerk payload -> Odoo field values: pure functions, never imports odoo."""
