"""What a PDF really contains, read back with Debian's poppler-utils and fontTools.

- `pdf_text`: pdftotext's text.
- `pdf_fonts`: pdffonts' table (name, type, embedded).
- `glyph_problems`: every font the PDF uses must be one of the faces we configured, be
  embedded, and have a glyph (in its cmap) for every character set in it. pdftohtml tells
  which font each run of text was shown with; a character the font lacks was drawn as
  .notdef (WeasyPrint maps that glyph back to the character in ToUnicode, so the text
  still reads right while the page shows an empty box): it is reported here.
"""

from __future__ import annotations

import io
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from fontTools.ttLib import TTFont

from invoicing.documents.fonts import ResolvedFace, font_bytes


def _run(args: list[str], pdf: bytes, tmp: Path) -> str:
    path = tmp / "document.pdf"
    path.write_bytes(pdf)
    result = subprocess.run(
        [*args, str(path), "-"], capture_output=True, timeout=60, check=True, cwd=tmp
    )
    return result.stdout.decode()


def pdf_text(pdf: bytes, tmp: Path) -> str:
    return _run(["pdftotext", "-layout"], pdf, tmp)


@dataclass(frozen=True)
class PdfFont:
    name: str  # with the subset tag, "ABCDEF+Document-Sans-Bold"
    type: str
    embedded: bool

    @property
    def tag(self) -> str:
        return self.name.split("+", 1)[0] if "+" in self.name else ""

    @property
    def base_name(self) -> str:
        return self.name.split("+", 1)[-1]


def pdf_fonts(pdf: bytes, tmp: Path) -> list[PdfFont]:
    path = tmp / "document.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdffonts", str(path)], capture_output=True, text=True, timeout=60, check=True
    ).stdout.splitlines()
    # The header's dashes give the column widths (names and types contain spaces).
    widths = [len(dash) for dash in out[1].split(" ")]
    fonts = []
    for line in out[2:]:
        columns, start = [], 0
        for width in widths:
            columns.append(line[start : start + width].strip())
            start += width + 1
        fonts.append(PdfFont(name=columns[0], type=columns[1], embedded=columns[3] == "yes"))
    return fonts


def text_by_font(pdf: bytes, tmp: Path) -> dict[str, str]:
    """Font name (with subset tag) -> all the text shown in it."""
    path = tmp / "document.pdf"
    path.write_bytes(pdf)
    xml = subprocess.run(
        ["pdftohtml", "-xml", "-i", "-q", "-stdout", str(path)],
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout
    root = ET.fromstring(xml)
    # pdftohtml drops "-Bold" from its family names: the subset tag names the font.
    by_tag = {font.tag: font.name for font in pdf_fonts(pdf, tmp)}
    spec = {}
    for fontspec in root.iter("fontspec"):
        tag = fontspec.get("family", "").split("+", 1)[0]
        spec[fontspec.get("id")] = by_tag.get(tag, fontspec.get("family"))
    texts: dict[str, list[str]] = {}
    for text in root.iter("text"):
        texts.setdefault(spec[text.get("font")], []).append("".join(text.itertext()))
    return {name: "".join(parts) for name, parts in texts.items()}


def pdf_name(face: ResolvedFace) -> str:
    """The name WeasyPrint gives a face in the PDF: Pango's description, spaces as '-'."""
    bold = "-Bold" if face.face.weight >= 700 else ""
    return face.face.family.replace(" ", "-") + bold


def glyph_problems(pdf: bytes, faces: tuple[ResolvedFace, ...], tmp: Path) -> list[str]:
    ours = {pdf_name(face): face for face in faces}
    problems = []
    fonts = pdf_fonts(pdf, tmp)
    if not fonts:
        problems.append("the PDF uses no font at all")
    for font in fonts:
        if font.base_name not in ours:
            problems.append(f"font {font.name} is not one of ours ({', '.join(ours)})")
        if not font.embedded:
            problems.append(f"font {font.name} is not embedded")
    cmaps = {}
    for name, text in text_by_font(pdf, tmp).items():
        base = name.split("+", 1)[-1]
        face = ours.get(base)
        if face is None:
            continue  # reported above
        if base not in cmaps:
            cmaps[base] = TTFont(io.BytesIO(font_bytes(face)), lazy=True).getBestCmap()
        missing = sorted({char for char in text if not char.isspace()} - set(map(chr, cmaps[base])))
        if missing:
            listed = ", ".join(f"{char!r} U+{ord(char):04X}" for char in missing)
            problems.append(f"{name} has no glyph for {listed}")
    return problems
