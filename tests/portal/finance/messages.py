"""The finance dashboard's messages: extracted from its views and templates as Django's
makemessages would (templatize, then xgettext), merged into its catalogue.

portal/finance is not an app and its templates sit in the portal's template tree, so
makemessages, which scans a whole directory, cannot be pointed at exactly these files.
Run `python -m tests.portal.finance.messages` after changing a message: it merges the
new ones into portal/finance/locale/zh_Hans/LC_MESSAGES/django.po (translate them, then
run it again to compile django.mo). tests/portal/finance/test_translations.py holds the
catalogue to the sources.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
PO = REPO_ROOT / "portal/finance/locale/zh_Hans/LC_MESSAGES/django.po"
MO = PO.with_suffix(".mo")


def sources() -> list[Path]:
    return sorted(
        [
            *(REPO_ROOT / "portal/finance").glob("*.py"),
            *(REPO_ROOT / "portal/templates/portal/finance").glob("*.html"),
        ]
    )


def extract(pot: Path) -> None:
    """Write the messages the sources use to `pot`."""
    from django.utils.translation import template

    with tempfile.TemporaryDirectory() as scratch:
        inputs = []
        for index, source in enumerate(sources()):
            text = source.read_text()
            if source.suffix == ".html":
                text = template.templatize(text)
            # xgettext names each message's file: keep the real name in the .po.
            target = Path(scratch) / source.relative_to(REPO_ROOT)
            target = target.with_name(f"{target.name}.{index}.py")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            inputs.append(str(target.relative_to(scratch)))
        subprocess.run(
            [
                "xgettext",
                "--language=Python",
                "--from-code=UTF-8",
                "--sort-output",
                "--no-location",
                "-o",
                str(pot),
                "--keyword=gettext",
                "--keyword=gettext_lazy",
                "--keyword=_",
                "--keyword=pgettext:1c,2",
                "--keyword=ngettext:1,2",
                "--keyword=ngettext_lazy:1,2",
                *inputs,
            ],
            check=True,
            capture_output=True,
            timeout=60,
            cwd=scratch,
        )


def main() -> None:
    import django

    sys.path.insert(0, str(REPO_ROOT))
    django.setup()
    with tempfile.TemporaryDirectory() as scratch:
        pot = Path(scratch) / "django.pot"
        extract(pot)
        if PO.exists():
            subprocess.run(
                [
                    "msgmerge",
                    "--quiet",
                    "--no-fuzzy-matching",
                    "--sort-output",
                    "--no-location",
                    "-U",
                    "--backup=none",
                    str(PO),
                    str(pot),
                ],
                check=True,
                timeout=60,
            )
        else:
            PO.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [
                    "msginit",
                    "--no-translator",
                    "--locale=zh_CN.UTF-8",
                    "-i",
                    str(pot),
                    "-o",
                    str(PO),
                ],
                check=True,
                timeout=60,
            )
    subprocess.run(["msgfmt", "--check", "-o", str(MO), str(PO)], check=True, timeout=60)
    print(f"{PO.relative_to(REPO_ROOT)}: merged; {MO.relative_to(REPO_ROOT)}: compiled")


if __name__ == "__main__":
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    main()
