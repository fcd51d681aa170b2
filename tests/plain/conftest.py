"""The plain suite imports the addon's Odoo-free packages as top-level ones."""

import sys
from pathlib import Path

ADDON_ROOT = Path(__file__).resolve().parents[2]
if str(ADDON_ROOT) not in sys.path:
    sys.path.insert(0, str(ADDON_ROOT))
