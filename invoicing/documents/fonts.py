"""The fonts a document is set in, named explicitly and found on disk at run time.

Every face is asked for by PostScript name (fontconfig's `fc-list`), so the PDF is set in
Noto Sans (Latin) and Noto Sans CJK SC and nothing else: no family name left for
fontconfig to substitute. The Chinese faces ship in a collection (.ttc) with the JP, KR,
TC and HK variants, whose glyphs differ for the same code points; the SC face is cut out
of it (its tables copied as they are) so that fontconfig cannot pick a sibling.
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from fontTools.ttLib import TTFont

from .paths import FONT_SCHEME


class FontMissing(RuntimeError):
    """A font the documents need is not installed; the message says which package has it."""

    code = "document_font_missing"


@dataclass(frozen=True)
class FontFace:
    """One @font-face: a CSS family and weight, set from the face with this PostScript name."""

    family: str  # the CSS family the stylesheet uses
    weight: int
    postscript_name: str
    package: str  # the Debian package that ships it, for the error message
    path: str | None = None  # given: use this file (index 0) instead of asking fontconfig


LATIN_FAMILY = "Document Sans"
CJK_FAMILY = "Document Sans CJK SC"

# Latin first: Noto Sans CJK also covers Latin, with wider digits; figures stay in Noto Sans.
DEFAULT_FACES = (
    FontFace(LATIN_FAMILY, 400, "NotoSans-Regular", "fonts-noto-core"),
    FontFace(LATIN_FAMILY, 700, "NotoSans-Bold", "fonts-noto-core"),
    FontFace(CJK_FAMILY, 400, "NotoSansCJKsc-Regular", "fonts-noto-cjk"),
    FontFace(CJK_FAMILY, 700, "NotoSansCJKsc-Bold", "fonts-noto-cjk"),
)


@dataclass(frozen=True)
class ResolvedFace:
    face: FontFace
    file: Path
    index: int  # the face's number inside a collection, 0 for a plain font file

    @property
    def url(self) -> str:
        # A name the URL fetcher answers from memory; never a real URL.
        return f"{FONT_SCHEME}:{self.face.postscript_name}"


def _fc_list(postscript_name: str) -> list[tuple[Path, int]]:
    if shutil.which("fc-list") is None:
        raise FontMissing(
            "fontconfig's `fc-list` is not installed (Debian package fontconfig, pulled in "
            "by the Pango libraries): run `python -m devservices system-packages`"
        )
    result = subprocess.run(
        ["fc-list", f":postscriptname={postscript_name}", "file", "index"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    found = []
    for line in result.stdout.splitlines():
        # "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc: :index=2"
        path, _, rest = line.partition(": ")
        index = int(rest.split("index=")[1].split(":")[0]) if "index=" in rest else 0
        found.append((Path(path.rstrip(":")), index))
    return sorted(found)


@functools.cache
def resolve(face: FontFace) -> ResolvedFace:
    """Find the file of one face; a clear error names the package when it is missing."""
    if face.path is not None:
        file = Path(face.path)
        if not file.is_file():
            raise FontMissing(f"font file {file} for {face.postscript_name} does not exist")
        return ResolvedFace(face, file, 0)
    found = _fc_list(face.postscript_name)
    if not found:
        raise FontMissing(
            f"font {face.postscript_name} is not installed: it is in the Debian package "
            f"{face.package} (`python -m devservices system-packages` installs it)"
        )
    file, index = found[0]
    return ResolvedFace(face, file, index)


@functools.cache
def font_bytes(resolved: ResolvedFace) -> bytes:
    """The face as a standalone font file (cut out of its collection when it is in one)."""
    data = resolved.file.read_bytes()
    if data[:4] != b"ttcf":
        return data
    # lazy: tables are copied as raw bytes, not decompiled and rebuilt (0.6 s, not 30 s).
    font = TTFont(io.BytesIO(data), fontNumber=resolved.index, lazy=True)
    name = font["name"].getDebugName(6)
    if name != resolved.face.postscript_name:
        raise FontMissing(
            f"face {resolved.index} of {resolved.file} is {name}, not "
            f"{resolved.face.postscript_name}"
        )
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def resolve_all(faces: tuple[FontFace, ...] = DEFAULT_FACES) -> tuple[ResolvedFace, ...]:
    return tuple(resolve(face) for face in faces)


def font_face_css(resolved_faces: tuple[ResolvedFace, ...]) -> str:
    rules = [
        "@font-face {"
        f' font-family: "{r.face.family}"; font-weight: {r.face.weight}; font-style: normal;'
        f' src: url("{r.url}"); }}'
        for r in resolved_faces
    ]
    families = list(dict.fromkeys(f'"{r.face.family}"' for r in resolved_faces))
    rules.append(f"html {{ font-family: {', '.join(families)}; }}")
    return "\n".join(rules)
