"""Titles and abstracts in the reader's language: written once per (paper, language, model, prompt).

The languages are those the translation prompt names (`prompts.languages()`); any other code is
refused before anything is stored. The model's answer is read as the title's line, an empty line,
the abstract, each cut to a bound: whatever it sent is kept as plain text, rendered as text.
"""

from __future__ import annotations

import functools
import logging
import re

from sqlalchemy.orm import Session

from app.config import Settings
from app.errors import InvalidQueryError, LLMError
from app.store.models import Paper, Translation
from app.summarize.client import LLMClient
from app.summarize.generations import (
    Ask,
    dispatch,
    find_row,
    open_row,
    request_row,
    write_row,
)
from app.summarize.prompts import TRANSLATE_VERSION, languages, load_task_prompt

log = logging.getLogger(__name__)
TRANSLATE_TASK = "summarize.translation"
MAX_TITLE_CHARS = 600
MAX_ABSTRACT_CHARS = 8000  # arXiv's abstracts stop at 1,920 characters; translations run longer
_CODE_RE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z]{2,4})?$")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_LABEL_RE = re.compile(r"^(?:title|标题|標題)\s*[:：]\s*", re.IGNORECASE)


def check_language(code: str) -> str:
    """`code` when the translation prompt names it; InvalidQueryError (422) otherwise."""
    names = languages()
    if not _CODE_RE.match(code) or code not in names:
        shown = code[:20] if code.isprintable() else repr(code[:20])
        raise InvalidQueryError(f"no language {shown!r}: ask for one of {', '.join(names)}")
    return code


def key_of(settings: Settings, paper_id: int, lang: str) -> dict[str, object]:
    return {
        "paper_id": paper_id,
        "lang": lang,
        "model": settings.llm_model,
        "prompt_version": TRANSLATE_VERSION,
    }


def split_translation(text: str) -> tuple[str, str] | None:
    """(title, abstract) from the model's answer, bounded and plain; None when there is no title."""
    text = _CONTROL_RE.sub(" ", text.replace("\r\n", "\n")).strip()
    head, _, rest = text.partition("\n")
    title = " ".join(_LABEL_RE.sub("", head.strip()).split())
    abstract = "\n".join(line.strip() for line in rest.strip().splitlines() if line.strip())
    if not title:
        return None
    return _bound(title, MAX_TITLE_CHARS), _bound(abstract, MAX_ABSTRACT_CHARS)


def _bound(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def request_translation(
    session: Session, settings: Settings, *, paper: Paper, lang: str, requester: str
) -> tuple[Translation, bool]:
    """The paper's translation row, created within the limits; and whether to enqueue it."""
    key = key_of(settings, paper.id, check_language(lang))
    row, enqueue = request_row(session, settings, Translation, key=key, requester=requester)
    assert isinstance(row, Translation)
    return row, enqueue


def find_translation(session: Session, settings: Settings, *, paper: Paper, lang: str) -> Translation | None:
    row = find_row(session, Translation, key_of(settings, paper.id, check_language(lang)))
    return row if isinstance(row, Translation) else None


def open_translation(
    session: Session, settings: Settings, *, paper: Paper, lang: str, requester: str
) -> Translation:
    """A reader asks for a translation: the written one, or a new one queued (within the limits)."""
    request = functools.partial(
        request_translation, session, settings, paper=paper, lang=lang, requester=requester
    )
    return open_row(session, request, functools.partial(dispatch_translation, settings))


def dispatch_translation(settings: Settings, translation_id: int) -> None:
    dispatch(settings, TRANSLATE_TASK, translation_id, generate_translation)


def generate_translation(settings: Settings, translation_id: int, *, client: LLMClient | None = None) -> str:
    """Claim and write one translation; returns its final status ("skipped" when someone else has it)."""

    has_abstract = True

    def ask(row: Translation, paper: Paper) -> Ask:
        nonlocal has_abstract
        has_abstract = bool(paper.abstract.strip())
        language = languages().get(row.lang, row.lang)
        prompt = load_task_prompt(TRANSLATE_VERSION)
        messages = prompt.messages(language=language, title=paper.title, abstract=paper.abstract)
        return messages, min(settings.llm_max_tokens * 4, 4 * len(paper.title + paper.abstract) + 256)

    def read(answer: str) -> dict[str, object]:
        parts = split_translation(answer)
        if parts is None:
            raise LLMError("the model's translation had no title")
        if has_abstract and not parts[1]:  # a one-line refusal or an apology, never an empty abstract
            raise LLMError("the model's translation had no abstract")
        return {"title": parts[0], "abstract": parts[1]}

    return write_row(
        settings, Translation, translation_id, kind="translation", ask=ask, read=read, client=client
    )
