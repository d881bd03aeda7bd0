"""PDF benchmark: invoices rendered to A4 PDFs with WeasyPrint, in pages/s.

    .venv/bin/python benchmarks/pdf_bench.py [--invoices 50] [--lines 20] [--language mix]

No service needed. Each invoice has --lines usage lines (tokens by kind, sub-cent unit
prices), half of them in Simplified Chinese with --language mix. It prints, in one run:
  cold:         the first rendering (finding the fonts, cutting the SC face out of its
                collection, registering the faces with fontconfig: once per process);
  html floor:   the Django template alone (render_html), documents/s;
  pdf floor:    a trivial one-line receipt through the same PDF path, pages/s: what any
                document costs at least (layout setup, font subsetting, PDF writing);
  invoices:     the invoices, pages/s and invoices/s, with the pages per invoice.
Each figure is given per wall-clock second and per CPU second of this process (the CPU
figure does not move when other work shares the 2 cores; the wall figure does).
Page counts are read back from the PDFs with pdfinfo (poppler-utils), after the timing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django  # noqa: E402

django.setup()

from invoicing.documents import render, samples  # noqa: E402


def _pages(pdf: bytes, tmp: Path) -> int:
    path = tmp / "bench.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(
        ["pdfinfo", str(path)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return int(next(line for line in info.splitlines() if line.startswith("Pages:")).split()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=50)
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--language", choices=("en", "zh-hans", "mix"), default="mix")
    parser.add_argument("--floor-documents", type=int, default=20)
    args = parser.parse_args()

    def language(i: int) -> str:
        if args.language != "mix":
            return args.language
        return "zh-hans" if i % 2 else "en"

    invoices = []
    for i in range(args.invoices):
        zh = language(i) == "zh-hans"
        invoices.append(
            samples.invoice(
                number=f"BENCH-{i:06d}",
                language=language(i),
                seller=samples.CHINESE_SELLER if zh else samples.RESELLER,
                buyer=samples.CHINESE_BUYER if zh else samples.BUYER,
                lines=args.lines,
                tax_label="增值税" if zh else "VAT",
            )
        )
    trivial = replace(samples.receipt(), number="FLOOR-000001")

    started = time.perf_counter()
    render.render_pdf(trivial)
    render.render_pdf(replace(trivial, language="zh-hans"))
    cold = time.perf_counter() - started

    def timed(work):
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        return result, time.perf_counter() - wall, time.process_time() - cpu

    _, html_elapsed, html_cpu = timed(lambda: [render.render_html(d) for d in invoices])
    floor_pdfs, floor_elapsed, floor_cpu = timed(
        lambda: [
            render.render_pdf(replace(trivial, language=language(i)))
            for i in range(args.floor_documents)
        ]
    )
    pdfs, elapsed, cpu = timed(lambda: [render.render_pdf(d) for d in invoices])

    with tempfile.TemporaryDirectory() as tmp:
        floor_pages = sum(_pages(pdf, Path(tmp)) for pdf in floor_pdfs)
        pages = sum(_pages(pdf, Path(tmp)) for pdf in pdfs)
    size = sum(len(pdf) for pdf in pdfs) / len(pdfs)

    n = args.invoices
    print(f"pdf bench: {n} invoices x {args.lines} lines, language {args.language}")
    print(f"  cold start (fonts found, SC face cut, registered; 2 receipts): {cold:.2f} s")
    print(
        f"  html floor (template only):  {n / html_elapsed:8.1f} documents/s "
        f"({n / html_cpu:.1f} per CPU s)"
    )
    print(
        f"  pdf floor (1-line receipt):  {floor_pages / floor_elapsed:8.2f} pages/s "
        f"({floor_pages / floor_cpu:.2f} per CPU s; {args.floor_documents} documents)"
    )
    print(
        f"  invoices:                    {pages / elapsed:8.2f} pages/s "
        f"({pages / cpu:.2f} per CPU s), {n / elapsed:.2f} invoices/s "
        f"({n / cpu:.2f} per CPU s); {pages / n:.1f} pages and {size / 1024:.0f} KiB each"
    )


if __name__ == "__main__":
    main()
