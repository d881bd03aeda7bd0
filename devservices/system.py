"""Debian packages the product and its tests need from the system, installed when missing.

    python -m devservices system-packages          # install what is missing (root + apt-get)
    python -m devservices system-packages --check  # only say what is missing (exit 1 if any)

WeasyPrint (the invoice PDFs) is a pip package but needs Pango and HarfBuzz's subsetter
from the system, and the documents are set in fonts from Debian's Noto packages; the PDF
tests read the result back with poppler-utils and check the translations with gettext.
Quick when everything is there: one `dpkg-query` call, no apt-get.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from .core import DevServiceError, is_root, run

# package -> why. WeasyPrint's documented Debian runtime (pip install): libpango-1.0-0,
# libpangoft2-1.0-0, libharfbuzz-subset0.
PACKAGES = {
    "libpango-1.0-0": "WeasyPrint: text layout",
    "libpangoft2-1.0-0": "WeasyPrint: fonts through fontconfig/FreeType",
    "libharfbuzz-subset0": "WeasyPrint: embeds only the glyphs used (CJK fonts are 16 MB)",
    "fontconfig": "fc-list: finds the document fonts by PostScript name",
    "fonts-noto-core": "Noto Sans, the documents' Latin font",
    "fonts-noto-cjk": "Noto Sans CJK SC, the documents' Chinese font",
    "poppler-utils": "pdftotext/pdffonts/pdftohtml: the PDF tests read documents back",
    "gettext": "msgfmt/xgettext: compilemessages and the translation tests",
    # Playwright for Python drives the system's Chromium; never `playwright install`.
    "chromium": "the portal's browser tests (tests/portal/test_browser.py)",
}


def missing_packages(packages=PACKAGES) -> list[str]:
    """Packages not installed, per dpkg (one call for all of them)."""
    if shutil.which("dpkg-query") is None:
        raise DevServiceError(
            "system packages: this is not a Debian-like system (no dpkg-query); install the "
            f"equivalents of {', '.join(packages)} with your package manager"
        )
    result = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Abbrev}\n", *packages],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,  # exit 1 when some package is unknown to dpkg: that is the answer
    )
    installed = {
        line.split()[0].split(":")[0]
        for line in result.stdout.splitlines()
        if len(line.split()) >= 2 and line.split()[1].startswith("ii")
    }
    return [package for package in packages if package not in installed]


def ensure_packages(packages=PACKAGES) -> list[str]:
    """Install the missing packages; returns what was installed ([] when nothing was)."""
    missing = missing_packages(packages)
    if not missing:
        return []
    if shutil.which("apt-get") is None or not is_root():
        raise DevServiceError(
            f"system packages missing: {' '.join(missing)}; install them with "
            f"`sudo apt-get install -y {' '.join(missing)}` (installing needs root)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    what = f"system packages: installing {' '.join(missing)}"
    try:
        run(command, what, timeout=1200, env=env)
    except DevServiceError:
        # Usually a stale or empty package index (fresh containers ship without one):
        # refresh it once and try again.
        run(["apt-get", "update"], "system packages: apt-get update", timeout=600, env=env)
        run(command, what, timeout=1200, env=env)
    still = missing_packages(packages)
    if still:
        raise DevServiceError(f"system packages: apt-get ran but {' '.join(still)} still missing")
    return missing
