"""The text of an untrusted PDF, read by pypdf in a child process under memory and time limits.

A PDF is a program of sorts: a stream of 1 MB may inflate to gigabytes, a page tree may name a page
a million times, an object may refer to itself. pypdf has limits of its own (LimitReachedError past
75 MB per stream), but the last word is the kernel's: `read_pdf_text` starts
`python -m app.summarize.pdftext`, which caps its own address space (RLIMIT_AS) and CPU time
(RLIMIT_CPU) before it reads a byte, and the parent kills it past a wall-clock timeout. Whatever a PDF
does, only the child dies, and the reader gets one line saying why.

The child reads the PDF on stdin and writes one JSON object on stdout: {"title", "pages", "text"} or
{"error"}. This module imports nothing heavy at the top: the child must start small.
"""

from __future__ import annotations

import io
import json
import re
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from app.errors import PdfRejectedError

ROOT = Path(__file__).resolve().parents[2]
MIN_TEXT = 200  # fewer characters than this: a scan or an empty document, nothing to summarise
EXIT_MEMORY = 3
# JavaScript in a PDF: an action of type /JavaScript, or a /JS entry (names and actions). The raw
# scan is a quick first look; _has_javascript reads the parsed objects.
SCRIPT_SCAN_OBJECTS = 500_000  # objects read by _has_javascript (a 500-page paper has ~10-50k)
_JAVASCRIPT = re.compile(rb"/(?:JavaScript|JS)\b")


@dataclass(frozen=True, slots=True)
class PdfText:
    title: str
    pages: int
    text: str


def read_pdf_text(
    data: bytes, *, max_bytes: int, max_pages: int, max_chars: int, memory_mb: int, timeout: float
) -> PdfText:
    """The PDF's text, or PdfRejectedError saying in one line why it cannot be read."""
    if len(data) > max_bytes:
        raise PdfRejectedError(f"the file is larger than {max_bytes / 1_000_000:g} MB")
    if not data.startswith(b"%PDF-"):
        raise PdfRejectedError("this is not a PDF: its content does not begin with %PDF- (whatever its name)")
    command = [sys.executable, "-m", "app.summarize.pdftext", str(memory_mb), str(timeout), str(max_pages)]
    command.append(str(max_chars))
    try:
        done = subprocess.run(  # noqa: S603 - our own module, arguments are numbers
            command, input=data, capture_output=True, timeout=timeout, cwd=ROOT, check=False
        )
    except subprocess.TimeoutExpired as exc:  # run() has killed the child
        raise PdfRejectedError(f"reading the PDF took longer than the {timeout:g} s allowed") from exc
    if done.returncode == EXIT_MEMORY or done.returncode < 0:  # MemoryError, or killed (RLIMIT_CPU/AS)
        raise PdfRejectedError(
            f"reading the PDF needed more than the {memory_mb} MB or {timeout:g} s allowed (a compression bomb?)"
        )
    try:
        answer = json.loads(done.stdout)
    except ValueError as exc:
        raise PdfRejectedError("the PDF reader failed on this file") from exc
    if "error" in answer:
        raise PdfRejectedError(str(answer["error"]))
    return PdfText(str(answer["title"]), int(answer["pages"]), str(answer["text"]))


def _has_javascript(reader: object) -> bool:
    """Whether any object the document's catalog reaches is script: a /JS entry, a /JavaScript name
    tree or action, or additional actions (/AA). Every reachable dictionary is read, parsed: names
    written with #xx escapes (`/J#61vaScript`) are decoded, and actions chained by /Next or held by
    annotations and form fields are reached too (a check of a few known places missed those)."""
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

    seen: set[tuple[int, int]] = set()
    stack: list[object] = [reader.trailer["/Root"]]  # type: ignore[attr-defined]
    budget = SCRIPT_SCAN_OBJECTS
    while stack:
        node = stack.pop()
        if isinstance(node, IndirectObject):
            if (node.idnum, node.generation) in seen:
                continue
            seen.add((node.idnum, node.generation))
            node = node.get_object()
        budget -= 1
        if budget < 0:  # a document too tangled to check whole is refused as one that runs script
            return True
        if isinstance(node, DictionaryObject):
            if "/JS" in node or "/AA" in node or "/JavaScript" in node or node.get("/S") == "/JavaScript":
                return True
            stack.extend(node.values())
        elif isinstance(node, ArrayObject):
            stack.extend(node)
    return False


def _read(data: bytes, *, max_pages: int, max_chars: int) -> dict[str, object]:
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError

    if _JAVASCRIPT.search(data):
        return {"error": "the PDF carries JavaScript, which is refused"}
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            return {"error": "the PDF is encrypted: upload an unprotected copy"}
        pages = len(reader.pages)
        if pages > max_pages:
            return {"error": f"the PDF has {pages} pages: at most {max_pages} are accepted"}
        if _has_javascript(reader):
            return {"error": "the PDF carries JavaScript, which is refused"}
        parts, size = [], 0
        for page in reader.pages:
            text = " ".join((page.extract_text() or "").split())
            parts.append(text)
            size += len(text)
            if size >= max_chars:
                break
        metadata = reader.metadata
        title = str(metadata.get("/Title") or "").strip() if metadata is not None else ""
    except LimitReachedError:
        return {
            "error": "a compressed stream of the PDF inflates past the size allowed (a compression bomb?)"
        }
    except RecursionError:
        return {"error": "the PDF's objects nest too deeply to be read"}
    except MemoryError:
        raise
    except Exception as exc:  # pypdf raises many kinds on a broken file: each is "unreadable"
        return {"error": f"the PDF is malformed and cannot be read ({type(exc).__name__})"}
    text = "\n\n".join(parts)[:max_chars]
    if len(text.strip()) < MIN_TEXT:
        return {"error": "the PDF holds almost no text (a scan without a text layer?)"}
    return {"title": " ".join(title.split())[:300], "pages": pages, "text": text}


def main(argv: list[str]) -> int:
    memory_mb, seconds, max_pages, max_chars = int(argv[0]), float(argv[1]), int(argv[2]), int(argv[3])
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = int(seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        data = sys.stdin.buffer.read()
        answer = _read(data, max_pages=max_pages, max_chars=max_chars)
        sys.stdout.write(json.dumps(answer))
    except MemoryError:
        return EXIT_MEMORY
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
