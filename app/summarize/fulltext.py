"""The paper's own text for the model: its arXiv PDF through httpx, text by pypdf, cut to a budget."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from app.arxiv.fetch import ArxivClient
from app.errors import ArxivError

log = logging.getLogger(__name__)
CHARS_PER_TOKEN = 4  # English prose with this tokenizer family: close enough for a budget
MAX_PAGES = 40


def pdf_text(data: bytes, *, max_chars: int) -> str:
    """Text of the first pages of a PDF, whitespace tidied, at most `max_chars` characters."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data), strict=False)
    parts: list[str] = []
    size = 0
    for page in reader.pages[:MAX_PAGES]:
        text = " ".join((page.extract_text() or "").split())
        parts.append(text)
        size += len(text)
        if size >= max_chars:
            break
    return "\n\n".join(parts)[:max_chars]


@dataclass(frozen=True, slots=True)
class FullText:
    """The PDF's text, or None and why not (told to the reader: "from the abstract only, because ...")."""

    text: str | None
    reason: str | None = None


def fetch_full_text(client: ArxivClient, url: str, *, token_budget: int) -> FullText:
    """The PDF's text, or why it cannot be had (the abstract is used instead)."""
    try:
        result = client.get(url)
        if not result.body:
            return FullText(None, "the PDF came back empty")
        text = pdf_text(result.body, max_chars=token_budget * CHARS_PER_TOKEN)
    except ArxivError as exc:
        log.info("full text unavailable", extra={"url": url, "reason": str(exc)})
        return FullText(None, "the PDF could not be fetched")
    except Exception as exc:
        log.info("pdf unreadable", extra={"url": url, "reason": f"{type(exc).__name__}: {exc}"[:200]})
        return FullText(None, "the PDF could not be read")
    if len(text) <= 500:  # a scanned or empty PDF: the abstract says more
        return FullText(None, "the PDF holds too little text (a scan?)")
    return FullText(text)
