"""German and Danish follow the translation template, string for string.

The template (``i18n/billwerk_connector.pot``) is what Odoo exports; each
language file must translate every string of it, and nothing else, keeping the
placeholders and the markup that Odoo fills in or renders around the text.
"""

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import polib
import pytest

I18N = Path(__file__).resolve().parents[2] / "i18n"
TEMPLATE = I18N / "billwerk_connector.pot"
LANGUAGES = ["de", "da"]

# Python's %-formatting directives, as Odoo's _() and env._() apply them.
PLACEHOLDER = re.compile(
    r"%(?:\([^)]*\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?[diouxXeEfFgGcrsa%]"
)
TAG = re.compile(r"<[^>]+>")
# One gettext line: a comment, a keyword with a quoted string, or a quoted
# continuation; strings hold only gettext's escapes. polib alone accepts an
# unterminated string.
_QUOTED = r'"(?:[^"\\]|\\[\\"\'?abfnrtv]|\\[0-7]{1,3}|\\x[0-9a-fA-F]+)*"'
GETTEXT_LINE = re.compile(
    rf"^(?:#.*|(?:msgctxt|msgid|msgid_plural|msgstr(?:\[\d+\])?) {_QUOTED}"
    rf"|{_QUOTED}|)$"
)


def _entries(path):
    """The file's live entries by (context, msgid); obsolete ones Odoo skips."""
    return {
        (entry.msgctxt, entry.msgid): entry
        for entry in polib.pofile(str(path))
        if not entry.obsolete
    }


def _label(key):
    msgctxt, msgid = key
    return f"{msgctxt}|{msgid!r}" if msgctxt else repr(msgid)


def _translated_pairs(lang):
    """(msgid, msgstr, entry) of every translated, non-fuzzy entry."""
    return [
        (entry.msgid, entry.msgstr, entry)
        for entry in _entries(I18N / f"{lang}.po").values()
        if entry.msgstr and not entry.fuzzy
    ]


def _placeholders(text):
    found = PLACEHOLDER.findall(text)
    # Positional ones are filled in order; named ones in any order.
    positional = [token for token in found if not token.startswith("%(")]
    return Counter(found), positional


def _is_python_string(entry):
    return "odoo-python" in (entry.comment or "").split("\n")


def _sample_arguments(msgid):
    tokens = PLACEHOLDER.findall(msgid)
    names = re.findall(r"%\(([^)]*)\)", msgid)
    if names:
        return dict.fromkeys(names, 1)
    return tuple(1 for token in tokens if token != "%%")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_template_string_is_translated_in_german_and_danish(lang):
    template = _entries(TEMPLATE)
    translations = _entries(I18N / f"{lang}.po")
    missing = [_label(key) for key in template if key not in translations]
    untranslated = [
        _label(key)
        for key, entry in translations.items()
        if key in template and (not entry.msgstr or entry.fuzzy)
    ]
    assert not missing, f"{lang}.po lacks {len(missing)} strings: {missing}"
    assert not untranslated, (
        f"{lang}.po leaves {len(untranslated)} strings empty or fuzzy: {untranslated}"
    )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_translation_is_left_for_a_string_the_template_dropped(lang):
    template = _entries(TEMPLATE)
    stale = [
        _label(key) for key in _entries(I18N / f"{lang}.po") if key not in template
    ]
    assert not stale, f"{lang}.po translates strings the template dropped: {stale}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translations_keep_the_placeholders_of_their_source(lang):
    differing = [
        f"{msgid!r}: {sorted(_placeholders(msgid)[0].elements())} "
        f"!= {sorted(_placeholders(msgstr)[0].elements())}"
        for msgid, msgstr, _entry in _translated_pairs(lang)
        if _placeholders(msgid) != _placeholders(msgstr)
    ]
    assert not differing, f"{lang}.po changes placeholders: {differing}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_python_translations_format_with_the_arguments_of_their_source(lang):
    broken = []
    for msgid, msgstr, entry in _translated_pairs(lang):
        if not _is_python_string(entry) or not PLACEHOLDER.search(msgid):
            continue
        try:
            assert isinstance(msgstr % _sample_arguments(msgid), str)
        except (KeyError, TypeError, ValueError) as error:
            broken.append(f"{msgid!r}: {error}")
    assert not broken, f"{lang}.po has strings that do not format: {broken}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translations_keep_the_markup_of_their_source(lang):
    differing = [
        repr(msgid)
        for msgid, msgstr, _entry in _translated_pairs(lang)
        if Counter(TAG.findall(msgid)) != Counter(TAG.findall(msgstr))
    ]
    assert not differing, f"{lang}.po changes the markup of: {differing}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translation_file_is_valid_gettext_without_duplicates(lang):
    path = I18N / f"{lang}.po"
    invalid = [
        f"line {number}: {line!r}"
        for number, line in enumerate(
            path.read_text(encoding="utf-8").splitlines(), start=1
        )
        if not GETTEXT_LINE.match(line)
    ]
    assert not invalid, f"{lang}.po is not valid gettext: {invalid}"
    # polib raises OSError on a syntax error and ValueError on a duplicate.
    po = polib.pofile(str(path), check_for_duplicates=True)
    assert po.encoding.lower() == "utf-8"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translation_file_passes_msgfmt_format_checks(lang):
    msgfmt = shutil.which("msgfmt")
    if msgfmt is None:
        pytest.skip("msgfmt is not installed (apt-get install gettext)")
    result = subprocess.run(
        [msgfmt, "--check", "-o", "/dev/null", str(I18N / f"{lang}.po")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translation_header_names_its_language_and_plural_forms(lang):
    metadata = polib.pofile(str(I18N / f"{lang}.po")).metadata
    assert metadata.get("Language") == lang
    assert metadata.get("Plural-Forms") == "nplurals=2; plural=(n != 1);"
    assert metadata.get("Content-Type") == "text/plain; charset=UTF-8"
