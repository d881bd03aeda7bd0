"""The finance dashboard in Simplified Chinese: every message its views and templates use
is in its catalogue, translated, and the committed .mo is the compiled .po; the page
rendered in Chinese shows none of the English messages."""

import gettext
import re
import subprocess
from html import unescape

import pytest
from django.test import Client

from tests.invoicing.test_pdf import _po_entries
from tests.portal.finance import messages

pytestmark = pytest.mark.django_db


def _entries(path) -> dict[str, list[str]]:
    """{msgid: its msgstrs} of a .po or .pot (the header left out)."""
    return dict(_po_entries(path))


def test_every_message_is_translated():
    entries = _entries(messages.PO)
    assert len(entries) >= 60
    assert [msgid for msgid, strs in entries.items() if not strs or not all(strs)] == []
    assert "#, fuzzy" not in messages.PO.read_text()  # a fuzzy entry is left out of the .mo


def test_the_catalogue_has_exactly_the_messages_the_sources_use(tmp_path):
    pot = tmp_path / "django.pot"
    messages.extract(pot)
    used, catalogue = set(_entries(pot)), set(_entries(messages.PO))
    assert used and used <= catalogue, sorted(used - catalogue)
    assert catalogue <= used, f"no longer used: {sorted(catalogue - used)}"


def test_the_committed_mo_is_the_compiled_po(tmp_path):
    compiled = tmp_path / "django.mo"
    subprocess.run(
        ["msgfmt", "--check", "-o", str(compiled), str(messages.PO)], check=True, timeout=60
    )
    with open(compiled, "rb") as fresh, open(messages.MO, "rb") as committed:
        assert (
            gettext.GNUTranslations(committed)._catalog == gettext.GNUTranslations(fresh)._catalog
        ), "django.mo is stale: run `python -m tests.portal.finance.messages` and commit it"


def test_the_chinese_page_shows_no_english_message(seeded, finance_user):
    client = Client()
    client.force_login(finance_user)
    client.cookies["django_language"] = "zh-hans"
    page = client.get("/portal/finance/?days=90").content.decode()
    text = unescape(
        re.sub(r"<[^>]+>", " ", re.sub(r"<(style|script)[^>]*>.*?</\1>", "", page, flags=re.S))
    )
    english = [
        msgid
        for msgid in _entries(messages.PO)
        # Whole messages without placeholders (those are checked by the catalogue tests).
        if "%(" not in msgid and re.search(rf"(?<![\w:]){re.escape(msgid)}(?![\w:])", text)
    ]
    assert english == []
    assert "财务看板" in text and "资金压力" in text and "负毛利模型" in text
