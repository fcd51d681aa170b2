"""How long a run may work in one scheduled call: plain Python, no Odoo."""
