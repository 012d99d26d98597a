"""/arxiv/{id}.md: a paper as Markdown, with its FAQ once one is written."""

from __future__ import annotations

import datetime as dt
import re

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.arxiv.parse import parse_feed
from app.store.ingest import ingest_feed
from app.store.models import Paper, Summary
from tests.conftest import DATA


def _paper(session: Session) -> Paper:
    feed = parse_feed((DATA / "api" / "api-2025-cs-100-entries.xml").read_bytes())
    ingest_feed(session, feed=feed, categories=["cs.CV"], day=dt.date(2025, 12, 15))
    paper = session.scalars(select(Paper).order_by(Paper.id)).first()
    assert paper is not None
    return paper


def test_paper_as_markdown(client: TestClient, session: Session) -> None:
    paper = _paper(session)
    response = client.get(f"/arxiv/{paper.arxiv_id}.md")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/markdown; charset=utf-8"
    text = response.text
    assert text.startswith(f"# {' '.join(paper.title.split())}\n")
    assert f"- Authors: {', '.join(paper.authors)}" in text
    assert "## Abstract" in text and paper.abstract.strip()[:60] in text
    assert "## FAQ" not in text


def test_markdown_lists_the_papers_shown_details(client: TestClient, session: Session) -> None:
    paper = _paper(session)
    details = {
        "comments": "12 pages",
        "journal_ref": "Nature 1 (2025)",
        "doi": "10.1000/x y",
        "msc_class": "52C25",
    }
    session.execute(update(Paper).where(Paper.id == paper.id).values(**details))
    text = client.get(f"/arxiv/{paper.arxiv_id}.md").text
    # The labels and order of the paper's page (app/arxiv/types.py), the DOI as its link.
    assert (
        "- Comments: 12 pages\n- Journal ref: Nature 1 (2025)\n- DOI: [10.1000/x y](https://doi.org/10.1000/x%20y)\n"
        "- MSC classes: 52C25\n\n## Abstract"
    ) in text


def test_markdown_carries_the_written_faq(client: TestClient, session: Session) -> None:
    paper = _paper(session)
    now = dt.datetime.now(dt.UTC)
    session.add(
        Summary(paper_id=paper.id, model="m", prompt_version="v1", lang="en", status="ready",
                content=[{"question": "What problem?", "answer": "A hard one."}], created_at=now, updated_at=now)
    )  # fmt: skip
    session.flush()
    text = client.get(f"/arxiv/{paper.arxiv_id}v2.md").text
    assert "## FAQ\n\n### What problem?\n\nA hard one.\n" in text


def test_markdown_of_bad_or_unknown_ids(client: TestClient) -> None:
    bad = client.get("/arxiv/not-a-paper.md")
    assert bad.status_code == 422 and "not an arXiv id" in bad.text
    assert bad.headers["content-type"].startswith("text/plain") and "<html" not in bad.text  # was a page
    # Not stored, and the recorded (offline) arXiv API does not know it either.
    unknown = client.get("/arxiv/2401.99999.md")
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("text/plain")


def test_markup_and_script_links_from_a_feed_or_the_model_are_inert(
    client: TestClient, session: Session
) -> None:
    """They were passed through raw: any renderer that shows HTML (most do) ran them."""
    from markdown_it import MarkdownIt

    paper = _paper(session)
    session.execute(
        update(Paper).where(Paper.id == paper.id).values(title="A <script>alert(1)</script> title")
    )
    hostile = (
        "<script>alert('x')</script> <svg/onload=alert(2)> [a](javascript:alert(6)) "
        "[b](&#106;avascript:alert(8)) [c](https://example.org) and x < y\n\n[r]: javascript:alert(9)"
    )
    now = dt.datetime.now(dt.UTC)
    session.add(
        Summary(paper_id=paper.id, model="m", prompt_version="v1", lang="en", status="ready",
                content=[{"question": "Q <img src=x onerror=alert(3)>?", "answer": hostile}],
                created_at=now, updated_at=now)
    )  # fmt: skip
    session.flush()
    text = client.get(f"/arxiv/{paper.arxiv_id}.md").text
    # As a renderer that allows raw HTML and every link would show it (CommonMark's own rules).
    shown = MarkdownIt("commonmark", {"html": True}).render(text)
    for tag in ("<script", "<svg", "<img"):
        assert tag not in shown, tag
    assert all(href.startswith("https://") for href in re.findall(r'href="([^"#][^"]*)', shown))
    assert 'href="https://example.org"' in shown and "x &lt; y" in shown
    assert text.startswith("# A &lt;script>alert(1)&lt;/script> title\n")
