"""The portal's Chinese catalogue: complete, compiled, and covering every message the
templates and code use (as invoicing's documents are checked)."""

import gettext
import subprocess
from pathlib import Path

import portal
from tests.invoicing.test_pdf import _po_entries

ROOT = Path(portal.__file__).resolve().parent
PO = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


def catalogue() -> list[tuple[str, list[str]]]:
    return _po_entries(PO)


def test_every_chinese_message_is_translated():
    entries = catalogue()
    assert len(entries) >= 150
    assert [msgid for msgid, strs in entries if not strs or not all(strs)] == []
    assert "#, fuzzy" not in PO.read_text()  # a fuzzy entry is left out of the .mo


def test_every_message_the_portal_uses_is_in_the_catalogue(tmp_path):
    from django.utils.translation import template

    sources = sorted(
        [*ROOT.rglob("*.py"), *ROOT.rglob("templates/**/*.html"), *ROOT.rglob("templates/**/*.txt")]
    )
    # The finance dashboard has its own catalogue (tests/portal/finance/test_translations.py).
    sources = [s for s in sources if "finance" not in s.relative_to(ROOT).parts]
    inputs = []
    for index, source in enumerate(sources):
        text = source.read_text()
        if source.suffix in (".html", ".txt"):
            text = template.templatize(text)
        target = tmp_path / f"{index}.py"
        target.write_text(text)
        inputs.append(str(target))
    pot = tmp_path / "django.pot"
    subprocess.run(
        [
            "xgettext",
            "--language=Python",
            "--from-code=UTF-8",
            "-o",
            str(pot),
            "--keyword=gettext",
            "--keyword=gettext_lazy",
            "--keyword=_",
            "--keyword=pgettext:1c,2",
            "--keyword=ngettext:1,2",
            *inputs,
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    used = {msgid for msgid, _ in _po_entries(pot)}
    known = {msgid for msgid, _ in catalogue()}
    assert len(used) >= 150 and used <= known, sorted(used - known)


def test_the_committed_mo_is_the_compiled_po(tmp_path):
    compiled = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check", "-o", str(compiled), str(PO)], check=True, timeout=60)
    with open(compiled, "rb") as fresh, open(MO, "rb") as committed:
        assert (
            gettext.GNUTranslations(committed)._catalog == gettext.GNUTranslations(fresh)._catalog
        ), "django.mo is stale: run `manage.py compilemessages` in portal/ and commit it"
