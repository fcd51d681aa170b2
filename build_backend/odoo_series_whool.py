"""whool, building the wheel of the Odoo series asked for.

One tree, two series: the manifest's version carries no series (``2.1.0``),
which Odoo prefixes with its own (``18.0.2.1.0`` on 18, ``19.0.2.1.0`` on
19). The OCA's wheels carry the series in their version, and whool reads it
from the manifest; this backend gives whool the series instead and prefixes
the version with it:

    pip wheel --no-deps .                          # 18.0.2.1.0 (the default)
    pip wheel --no-deps . -C odoo-series=19.0      # 19.0.2.1.0
    ODOO_SERIES=19.0 pip wheel --no-deps .         # the same

Everything else (the name odoo-addon-billwerk_connector, the files packed,
Requires-Dist, the README) is whool's, for that series: a 19.0 wheel requires
``odoo>=19.0a,<19.1dev``, so pip puts it only where Odoo 19 is.
"""

import os

from manifestoo_core.metadata import metadata_from_addon_dir
from whool import buildapi as _whool
from whool.buildapi import (
    build_editable,
    build_sdist,
    build_wheel,
    prepare_metadata_for_build_editable,
    prepare_metadata_for_build_wheel,
)
from whool.utils import load_pyproject_toml

SERIES = ("18.0", "19.0")
DEFAULT_SERIES = "18.0"
_asked = {}


def series(config_settings=None):
    """The series asked for: ``-C odoo-series=``, else $ODOO_SERIES, else 18.0."""
    value = (
        (config_settings or {}).get("odoo-series")
        or _asked.get("series")
        or os.environ.get("ODOO_SERIES")
        or DEFAULT_SERIES
    )
    if value not in SERIES:
        raise ValueError(f"odoo-series must be one of {', '.join(SERIES)}: {value!r}")
    return value


def _get_metadata(addon_dir):
    """whool's metadata, for the series asked for, the version prefixed with it."""
    chosen = series()
    options = dict(load_pyproject_toml(addon_dir).get("tool", {}).get("whool", {}))
    options["odoo_series_override"] = chosen
    metadata = metadata_from_addon_dir(
        addon_dir, options, precomputed_metadata_file=addon_dir / "PKG-INFO"
    )
    version = metadata["Version"]
    if not version.startswith(f"{chosen}."):  # an sdist's PKG-INFO has it already
        metadata.replace_header("Version", f"{chosen}.{version}")
    return metadata


def _with_series(hook):
    def call(directory, config_settings=None, *args):
        _asked["series"] = series(config_settings)
        try:
            return hook(directory, config_settings, *args)
        finally:
            _asked.clear()

    call.__name__ = hook.__name__
    return call


_whool._get_metadata = _get_metadata
build_wheel = _with_series(build_wheel)
build_editable = _with_series(build_editable)
build_sdist = _with_series(build_sdist)
prepare_metadata_for_build_wheel = _with_series(prepare_metadata_for_build_wheel)
prepare_metadata_for_build_editable = _with_series(prepare_metadata_for_build_editable)
