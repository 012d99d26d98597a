"""PDFs for tests, hostile ones included, built here rather than committed (one is over 20 MB).

`python -m tests.uploads.hostile_pdfs tests/data/pdf` writes the corpus to a folder to look at; the
tests build each file in a temporary folder. Each hostile file must give one clear error.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

FONT = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def build_pdf(objects: Sequence[str | bytes], *, root: int = 1) -> bytes:
    """A PDF of these numbered objects (1, 2, ...), with a correct cross-reference table."""
    out, offsets = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"), []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        body = obj.encode("latin-1") if isinstance(obj, str) else obj
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root {root} 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _content(text: str) -> str:
    lines = [text[i : i + 80].replace("(", "[").replace(")", "]") for i in range(0, len(text), 80)]
    body = "BT /F1 10 Tf 40 800 Td 12 TL " + " ".join(f"({line}) '" for line in lines) + " ET"
    return f"<< /Length {len(body)} >>\nstream\n{body}\nendstream"


def text_pdf(text: str, *, title: str = "", catalog_extra: str = "") -> bytes:
    """A one-page PDF drawing `text` (pypdf extracts it), with an optional /Title."""
    info = f" /Info << /Title ({title}) >>" if title else ""
    page = "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>"
    pdf = build_pdf(
        [
            f"<< /Type /Catalog /Pages 2 0 R{catalog_extra} >>",
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            page,
            _content(text),
            FONT,
        ]
    )
    return pdf.replace(b"/Root 1 0 R >>", f"/Root 1 0 R{info} >>".encode()) if info else pdf


SAMPLE = "We propose spectral local learning, a method that trains each layer on its own signal. " * 12


def malformed() -> bytes:
    """A PDF header, then nothing a reader can parse: no objects, no cross-reference table."""
    return b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


def many_pages(count: int = 100_000) -> bytes:
    """A page tree whose one /Kids array names the same page `count` times (a small file)."""
    kids = " ".join(["3 0 R"] * count)
    return build_pdf(
        [
            "<< /Type /Catalog /Pages 2 0 R >>",
            f"<< /Type /Pages /Kids [{kids}] /Count {count} >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
            _content(SAMPLE),
            FONT,
        ]
    )


def flate_bomb(inflated: int = 2 << 30) -> bytes:
    """A page whose FlateDecode content stream inflates to `inflated` bytes (2 GiB from ~2 MB).

    Built without compressing gigabytes: after a full flush a deflate stream starts afresh, so the
    compressed form of one 1 MiB block of spaces is repeated, then closed with the right checksum.
    """
    block = b" " * (1 << 20)
    packer = zlib.compressobj(9)
    first = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    header, segment = first[:2], first[2:]
    count, checksum = inflated // len(block), 1
    for _ in range(count):
        checksum = zlib.adler32(block, checksum)
    data = header + segment * count + b"\x03\x00" + checksum.to_bytes(4, "big")  # an empty final block
    stream = f"<< /Length {len(data)} /Filter /FlateDecode >>\nstream\n".encode() + data + b"\nendstream"
    return build_pdf(
        [
            "<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
            stream,
            FONT,
        ]
    )


def javascript() -> bytes:
    """A readable PDF that runs JavaScript when opened (an /OpenAction)."""
    return text_pdf(SAMPLE, catalog_extra=" /OpenAction << /S /JavaScript /JS (app.alert('pwned')) >>")


def _escaped_script(catalog_extra: str = "", page_extra: str = "", *objects: str) -> bytes:
    """A readable page whose JavaScript is named with #xx escapes (`/J#61vaScript` is /JavaScript):
    a scan of the raw bytes does not see it; the parsed objects do."""
    return build_pdf(
        [
            f"<< /Type /Catalog /Pages 2 0 R{catalog_extra} >>",
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] /Contents 4 0 R "
            f"/Resources << /Font << /F1 5 0 R >> >>{page_extra} >>",
            _content(SAMPLE),
            FONT,
            *objects,
        ]
    )


def javascript_in_a_chain() -> bytes:
    """An /OpenAction that only goes to page 1, and whose /Next action runs script."""
    return _escaped_script(
        " /OpenAction << /S /GoTo /D [3 0 R /Fit] /Next << /S /J#61vaScript /J#53 (app.alert(1)) >> >>"
    )


def javascript_in_an_annotation() -> bytes:
    """A link annotation whose additional actions (/AA, on entering it) run script."""
    annotation = "<< /Type /Annot /Subtype /Link /Rect [0 0 10 10] /AA << /E << /S /J#61vaScript /J#53 (app.alert(2)) >> >> >>"
    return _escaped_script("", " /Annots [6 0 R]", annotation)


def not_a_pdf() -> bytes:
    """An HTML page, to be sent under a .pdf name."""
    return b"<!DOCTYPE html><html><body><script>alert(1)</script>paper.pdf</body></html>"


def oversized(size: int = 21_000_000) -> bytes:
    """A valid PDF padded with a comment past 20 MB."""
    pdf = text_pdf(SAMPLE)
    return pdf[:9] + b"%" + b"x" * (size - len(pdf)) + b"\n" + pdf[9:]


CORPUS: dict[str, Callable[[], bytes]] = {
    "malformed.pdf": malformed,
    "many-pages.pdf": many_pages,
    "flate-bomb.pdf": flate_bomb,
    "javascript.pdf": javascript,
    "javascript-in-a-chain.pdf": javascript_in_a_chain,
    "javascript-in-an-annotation.pdf": javascript_in_an_annotation,
    "not-a-pdf.pdf": not_a_pdf,
    "oversized.pdf": oversized,
}


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/data/pdf")
    folder.mkdir(parents=True, exist_ok=True)
    for name, make in CORPUS.items():
        (folder / name).write_bytes(make())
        print(folder / name)
