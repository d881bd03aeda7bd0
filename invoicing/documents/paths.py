"""Where the documents' local assets are, apart from the code that needs WeasyPrint.

Kept apart so that importing render.py does not load WeasyPrint (and with it Pango):
a machine without the system libraries still starts Django; only rendering a PDF fails.
"""

from pathlib import Path

ASSETS_DIR = (Path(__file__).resolve().parent / "assets").resolve()
FONT_SCHEME = "document-font"  # the URLs of our fonts, answered from memory by the fetcher
