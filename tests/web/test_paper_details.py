"""The detail lines of a paper's markup come from the fields declared `Shown` (app/arxiv/types.py)."""

from __future__ import annotations

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.arxiv.parse import parse_feed
from app.store.ingest import ingest_feed
from tests.conftest import DATA

OAI = DATA / "oai" / "oai-listrecords-arXiv-cs-2015.xml"


def _details(client: TestClient, arxiv_id: str) -> dict[str, str]:
    response = client.get(f"/arxiv/{arxiv_id}")
    assert response.status_code == 200
    paper = BeautifulSoup(response.text, "html.parser").select_one(f"div.paper[id='{arxiv_id}']")
    assert paper is not None
    lines = paper.select(f"p[id$='-{arxiv_id}']")
    return {
        p["id"]: p.get_text()
        for p in lines
        if p["class"][0] not in ("authors", "summary", "subjects", "date")
    }


def test_paper_page_shows_declared_details_in_order(client: TestClient, session: Session) -> None:
    ingest_feed(session, feed=parse_feed(OAI.read_bytes()))
    assert _details(client, "1501.03549") == {
        "comments-1501.03549": "Comments: An extended abstract of this paper has appeared in Proc. 30th annual "
        "Symposium on Computational Geometry (SOCG'14), Kyoto, Japan, June 2014",
        "msc-1501.03549": "MSC classes: 52C25, 74N10",
        "acm-1501.03549": "ACM classes: I.3.5",
    }


def test_paper_page_links_the_doi(client: TestClient, session: Session) -> None:
    ingest_feed(session, feed=parse_feed(OAI.read_bytes()))
    assert list(_details(client, "1101.4388")) == ["comments-1101.4388", "journal-1101.4388", "doi-1101.4388"]
    response = client.get("/arxiv/1101.4388")
    link = BeautifulSoup(response.text, "html.parser").select_one("p#doi-1101\\.4388 a")
    assert link is not None
    assert (link["href"], link.get_text()) == (
        "https://doi.org/10.1016/j.acha.2012.03.009",
        "10.1016/j.acha.2012.03.009",
    )
