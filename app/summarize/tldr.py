"""One-sentence TL;DRs: written by the configured model for the day's top papers and on demand.

Each is stored per (paper, model, prompt version) as plain text cut to one sentence and a bounded
length, whatever the model sent (HTML, newlines, a page of text): templates and JSON carry it as
text, so it is inert wherever it is shown. Without a configured model nothing is written and no
TL;DR line is shown. Storing one bumps the paper's revision: pages cached from the paper (their
stamps sum revisions) are rendered again with the line.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re

from sqlalchemy.orm import Session

from app.config import Settings
from app.errors import LLMError, SummaryLimitError
from app.store.db import session_scope
from app.store.listings import CategoryQuery, day_listing
from app.store.models import Paper, Tldr
from app.summarize.client import LLMClient
from app.summarize.generations import (
    Ask,
    dispatch,
    find_row,
    open_row,
    request_row,
    write_row,
)
from app.summarize.prompts import TLDR_VERSION, load_task_prompt
from app.summarize.service import CLAIMING, llm_configured

log = logging.getLogger(__name__)
TLDR_TASK = "summarize.tldr"
TLDR_DAY_TASK = "summarize.tldrs"
MAX_CHARS = 300  # what a listing shows under a title: about two lines
MAX_TOKENS = 160  # one sentence of 30 words, with room for a model that talks a little first
PREGENERATED = "tldr-pregenerate"  # the requester of the day's TL;DRs: no reader's own limit
# Control characters (newlines, NUL, bidi overrides included) read as spaces: one line, one sentence.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_PREFIX_RE = re.compile(r"^[\s*_#>`\"']*(?:tl\s*;?\s*dr|summary)[\s*_`]*[:：.\-–—][\s*_`]*", re.IGNORECASE)
# A sentence ends at . ! ? before a space and a capital (not inside "e.g. the"), or at a CJK stop.
# A chatty model's preamble before the sentence itself: "Sure!", "Here is a one-sentence TL;DR:".
_CHATTER_RE = re.compile(
    r"^(?:(?:sure|certainly|of course|okay|ok|absolutely)\b[!.,]?\s*|here(?:'s|’s| is)\b[^:]{0,100}:\s*)",
    re.IGNORECASE,
)
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[A-Z\"'(\[])|(?<=[。！？])")


def key_of(settings: Settings, paper_id: int) -> dict[str, object]:
    return {"paper_id": paper_id, "model": settings.llm_model, "prompt_version": TLDR_VERSION}


def clean_tldr(text: str) -> str | None:
    """The model's answer as one plain sentence of at most MAX_CHARS; None when nothing is left."""
    text = " ".join(_CONTROL_RE.sub(" ", text).split())
    while (bare := _CHATTER_RE.sub("", text, count=1)) != text:  # "Sure! Here is the TL;DR: ..."
        text = bare
    text = _PREFIX_RE.sub("", text, count=1).strip()
    end = _SENTENCE_END_RE.search(text)
    if end is not None:
        text = text[: end.start()].strip()
    if len(text) > MAX_CHARS:
        cut = text[: MAX_CHARS - 1]
        text = (cut.rsplit(" ", 1)[0] if " " in cut[MAX_CHARS // 2 :] else cut).rstrip(" ,;:") + "…"
    return text or None


def request_tldr(
    session: Session, settings: Settings, *, paper: Paper, requester: str, per_client: bool = True
) -> tuple[Tldr, bool]:
    """The paper's TL;DR row for the configured model and prompt, created within the limits; and
    whether to enqueue it. The caller commits, then `dispatch_tldr`s it."""
    row, enqueue = request_row(
        session, settings, Tldr, key=key_of(settings, paper.id), requester=requester, per_client=per_client
    )
    assert isinstance(row, Tldr)
    return row, enqueue


def find_tldr(session: Session, settings: Settings, *, paper: Paper) -> Tldr | None:
    row = find_row(session, Tldr, key_of(settings, paper.id))
    return row if isinstance(row, Tldr) else None


def open_tldr(session: Session, settings: Settings, *, paper: Paper, requester: str) -> Tldr:
    """A reader asks for a paper's TL;DR: the written one, or a new one queued (within the limits)."""
    request = functools.partial(request_tldr, session, settings, paper=paper, requester=requester)
    return open_row(session, request, functools.partial(dispatch_tldr, settings))


def dispatch_tldr(settings: Settings, tldr_id: int) -> None:
    dispatch(settings, TLDR_TASK, tldr_id, generate_tldr)


def generate_tldr(settings: Settings, tldr_id: int, *, client: LLMClient | None = None) -> str:
    """Claim and write one TL;DR; returns its final status ("skipped" when someone else has it)."""

    def ask(_: Tldr, paper: Paper) -> Ask:
        return load_task_prompt(TLDR_VERSION).messages(title=paper.title, abstract=paper.abstract), MAX_TOKENS

    def read(answer: str) -> dict[str, object]:
        text = clean_tldr(answer)
        if text is None:
            raise LLMError("the model's TL;DR was empty once cleaned")
        return {"text": text}

    return write_row(
        settings, Tldr, tldr_id, kind="tldr", ask=ask, read=read, client=client, bump_revision=True
    )


def write_day_tldrs(settings: Settings, *, category: str, day: dt.date) -> int:
    """Queue TL;DRs for the first TLDR_TOP new papers of a category's day that have none of this
    model and prompt (those written or under way are left alone); they count against SUMMARY_DAILY_LIMIT. Returns how many were queued."""
    top = settings.tldr_top
    if not top or not llm_configured(settings):
        return 0
    queued: list[int] = []
    with CLAIMING, session_scope(settings) as session:
        listed = [
            p.paper for p in day_listing(session, CategoryQuery((category,)), day=day) if p.section == "new"
        ]
        for paper in listed[:top]:
            try:
                row, enqueue = request_tldr(
                    session, settings, paper=paper, requester=PREGENERATED, per_client=False
                )
            except SummaryLimitError:
                break
            if enqueue:
                queued.append(row.id)
    for tldr_id in queued:
        dispatch_tldr(settings, tldr_id)
    return len(queued)
