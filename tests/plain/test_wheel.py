"""The addon packs into the OCA's wheel, odoo-addon-billwerk_connector.

pyproject.toml makes whool the build backend: the test builds the wheel with
the virtual environment's whool (``--no-build-isolation``: nothing to fetch, so
it runs offline once scripts/setup.sh has run), installs it into a fresh
virtual environment with ``--no-deps`` and checks that
``odoo/addons/billwerk_connector`` there holds every file that
``__manifest__.py`` names, the translations, the static files, the tests and the
sandbox, and that the wheel's metadata is the manifest's. It does so for each
series the tree ships (18.0 and 19.0: ``-C odoo-series=``, see
build_backend/odoo_series_whool.py), each wheel versioned ``<series>.<manifest
version>`` and requiring that series' Odoo.

whool names the addon after its folder, and packs the files that git tracks
there (the whole folder outside git). The test builds from a copy, in a folder
called billwerk_connector (a checkout may be called anything), of the files the
next commit of the whole tree would hold: the tracked ones and the new ones git
does not ignore. So it judges the packaging of the tree as it is, new files not
yet added included; from a fresh clone that is what ``pip wheel --no-deps .``
packs.

With BILLWERK_WHEEL_DIR set (scripts/test.sh does), the build and the fresh
environment are kept there: the test command installs the addon into its
throw-away database from that environment's odoo/addons (one folder per series
there). About two seconds a series;
``-k "not wheel"`` skips it.
"""

import ast
import email.parser
import glob
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ADDON = "billwerk_connector"
MANIFEST = ast.literal_eval((ROOT / "__manifest__.py").read_text(encoding="utf-8"))
# The manifest's version has no series (Odoo prefixes its own); the wheel of
# each series is <series>.<version> (build_backend/odoo_series_whool.py).
SERIES = ("18.0", "19.0")
DIST_NAME = f"odoo-addon-{ADDON}"


def _version(series):
    return f"{series}.{MANIFEST['version']}"


def _wheel_name(series):
    return f"odoo_addon_{ADDON}-{_version(series)}-py3-none-any.whl"


# Never packed (the fallback outside git copies the folder without these).
UNPACKED = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", "build"}


def _run(command, **kwargs):
    result = subprocess.run(
        command, capture_output=True, text=True, check=False, **kwargs
    )
    if result.returncode:
        pytest.fail(
            f"{' '.join(map(str, command))} exited {result.returncode}:\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def _source_files():
    """The files a commit of the tree holds, or every file outside git."""
    try:
        listing = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        return sorted(
            path.relative_to(ROOT).as_posix()
            for path in ROOT.rglob("*")
            if path.is_file()
            and not UNPACKED.intersection(path.relative_to(ROOT).parts)
            and path.suffix != ".pyc"
        )
    # A tracked file deleted in the work tree is gone at the next commit.
    return sorted({f for f in listing.split("\0") if f and (ROOT / f).is_file()})


def _source_folder(tmp):
    """A folder called billwerk_connector holding the tree's files."""
    source = tmp / "src" / ADDON
    for name in _source_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    # No git above the copy: whool packs the copied folder whole.
    env = dict(os.environ, GIT_CEILING_DIRECTORIES=str(source.parent))
    return source, env


def _manifest_files():
    """Paths, relative to the addon, of every file the manifest names."""
    named = set(MANIFEST.get("data", [])) | set(MANIFEST.get("demo", []))
    named |= set(MANIFEST.get("images", []))
    files = set(_source_files())
    for entries in MANIFEST.get("assets", {}).values():
        for entry in entries:
            if isinstance(entry, (list, tuple)):
                if entry[0] in ("include", "remove"):
                    continue  # another bundle; a file left out
                entry = entry[-1]
            if not entry.startswith(f"{ADDON}/"):
                continue  # another addon's file
            path = entry[len(ADDON) + 1 :]
            if glob.has_magic(path):
                matches = glob.glob(path, root_dir=ROOT, recursive=True)
                named |= {match for match in matches if match in files}
            else:
                named.add(path)
    return named


@pytest.fixture(scope="module", params=SERIES)
def wheel_env(request, tmp_path_factory):
    """(series, the built wheel, the fresh venv's odoo/addons/billwerk_connector)."""
    if importlib.util.find_spec("whool") is None:
        pytest.fail("whool is not installed in this Python: run scripts/setup.sh")
    series = request.param
    kept = os.environ.get("BILLWERK_WHEEL_DIR")
    tmp = (Path(kept) if kept else tmp_path_factory.mktemp("wheel")) / series
    tmp.mkdir(parents=True, exist_ok=True)
    dist = tmp / "dist"
    venv = tmp / "venv"
    for old in (dist, venv, tmp / "src"):
        shutil.rmtree(old, ignore_errors=True)
    source, env = _source_folder(tmp)
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--wheel-dir",
            dist,
            "--config-settings",
            f"odoo-series={series}",
            source,
        ],
        cwd=tmp,
        env=env,
    )
    wheels = sorted(dist.glob("*.whl"))
    # A fresh environment without pip: this pip installs into it.
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--no-compile",
            *wheels,
        ]
    )
    purelib = _run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
    ).strip()
    assert purelib != sysconfig.get_paths()["purelib"]
    return series, wheels, Path(purelib) / "odoo" / "addons" / ADDON


def test_wheel_is_named_after_the_addon_the_series_and_the_manifest_version(
    wheel_env,
):
    series, wheels, installed = wheel_env
    assert [wheel.name for wheel in wheels] == [_wheel_name(series)]
    assert installed.is_dir()
    assert (installed / "__manifest__.py").read_bytes() == (
        ROOT / "__manifest__.py"
    ).read_bytes()


def test_wheel_holds_every_file_the_manifest_names(wheel_env):
    series, _, installed = wheel_env
    named = _manifest_files()
    assert "security/ir.model.access.csv" in named
    assert any(path.endswith(".scss") for path in named)
    missing = sorted(path for path in named if not (installed / path).is_file())
    assert not missing, f"named by __manifest__.py, missing from {_wheel_name(series)}"
    differing = sorted(
        path
        for path in named
        if (installed / path).read_bytes() != (ROOT / path).read_bytes()
    )
    assert not differing


def test_wheel_holds_translations_static_files_tests_and_sandbox(wheel_env):
    _, _, installed = wheel_env
    files = _source_files()
    expected = [
        path
        for path in files
        if path.startswith(("i18n/", "static/", "tests/", "sandbox/"))
        or path in ("__init__.py", "__manifest__.py", "README.rst")
    ]
    for must in (
        "i18n/billwerk_connector.pot",
        "i18n/de.po",
        "static/description/icon.png",
        "tests/__init__.py",
        "sandbox/__main__.py",
    ):
        if (ROOT / must).is_file():
            assert must in expected
    assert [path for path in expected if not (installed / path).is_file()] == []
    # Every Python module of the checkout is packed, the addon's and the tests'.
    packed = {path.relative_to(installed).as_posix() for path in installed.rglob("*")}
    assert {path for path in files if path.endswith(".py")} <= packed
    # whool leaves its own configuration out.
    assert "pyproject.toml" not in packed


def test_wheel_metadata_is_the_manifests(wheel_env):
    series, _, installed = wheel_env
    version = _version(series)
    dist_info = installed.parents[2] / f"odoo_addon_{ADDON}-{version}.dist-info"
    metadata = email.parser.Parser().parsestr(
        (dist_info / "METADATA").read_text(encoding="utf-8")
    )
    assert metadata["Name"] == DIST_NAME
    assert metadata["Version"] == version
    assert metadata["License"] == MANIFEST["license"]
    requires = {
        re.match(r"[\w.-]+", req).group().lower()
        for req in metadata.get_all("Requires-Dist")
    }
    python_deps = MANIFEST["external_dependencies"]["python"]
    assert {"requests", "cryptography"} <= set(python_deps)
    assert set(python_deps) <= requires
    assert "odoo" in requires  # depends: core addons only
    # pip puts each series' wheel only beside that series' Odoo.
    odoo_requirement = [
        req for req in metadata.get_all("Requires-Dist") if req.startswith("odoo")
    ]
    assert odoo_requirement == [f"odoo=={series}.*"]
    assert f"Framework :: Odoo :: {series}" in metadata.get_all("Classifier")
    assert metadata["Description-Content-Type"] == "text/x-rst"
    readme = (ROOT / "README.rst").read_text(encoding="utf-8")
    assert metadata.get_payload().strip() == readme.strip()


def test_the_manifest_version_has_no_series_and_is_ahead_of_every_migration():
    """Odoo prefixes a three-part version with its own series, on 18 and 19 alike.

    A migration folder names the full version it upgrades to (Odoo compares
    it with the installed ``18.0.x``): none may be ahead of this release.
    """
    version = MANIFEST["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), version

    def parsed(text):
        return tuple(int(part) for part in text.split("."))

    for folder in sorted((ROOT / "migrations").iterdir()):
        series = ".".join(folder.name.split(".")[:2])
        assert series in SERIES, folder.name
        assert parsed(folder.name) <= parsed(f"{series}.{version}"), folder.name
