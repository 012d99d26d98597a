"""Completeness with three witnesses (the feed, the API, the OAI-PMH set) and days without announcement.

The feed and the API answer are those of tests/store/test_completeness.py (the real 2025-12-15 cs
papers; the feed ten cs.CV papers short). Here the API lags too: it lacks five of those ten, which
only the OAI-PMH answer (two pages joined by a resumption token, written in arXiv's `arXiv` metadata
format as tests/data/oai/ records it) still names. The real recorded ListRecords answer checks which
records count as new on a day.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from xml.sax.saxutils import escape

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.arxiv.oai_sets import new_on_day, oai_set
from app.arxiv.parse import parse_feed
from app.arxiv.types import FeedEntry
from app.config import Settings, get_settings
from app.store.completeness import (
    EASTERN,
    ExpectedPapers,
    check_completeness,
    check_day,
    previous_announcement,
    submission_window,
)
from app.store.db import session_scope
from app.store.ingest import ingest_feed
from app.store.models import CompletenessCheck
from tests.conftest import DATA
from tests.fakes import FakeEmbedder
from tests.loopback import LoopbackServer, Reply
from tests.store.test_completeness import API_ANSWER, CV, DAY, DROPPED, FEED, listed_ids, rss_feed

OAI_2015 = (DATA / "oai" / "oai-listrecords-arXiv-cs-2015.xml").read_bytes()
API_LAGGING = DROPPED[5:]  # missing from the feed, and not in the API's answer yet either
ATOM = "{http://www.w3.org/2005/Atom}"


def test_oai_set_is_the_archive_and_physics_archives_nest() -> None:
    assert [oai_set(c) for c in ("cs.CV", "stat.ML", "math.AG", "eess.SP", "q-bio.NC")] == [
        "cs", "stat", "math", "eess", "q-bio"
    ]  # fmt: skip
    assert [oai_set(c) for c in ("hep-th", "astro-ph.GA", "quant-ph", "physics.optics", "math.MP")] == [
        "physics:hep-th", "physics:astro-ph", "physics:quant-ph", "physics:physics", "physics:math-ph"
    ]  # fmt: skip
    with pytest.raises(ValueError, match="not an arXiv category"):
        oai_set("cs.XX")


def test_new_on_day_keeps_first_versions_of_the_window_not_replacements() -> None:
    """The real answer for datestamp 2015-01-16 (Friday's listing: Wed 14:00 to Thu 14:00 EST)."""
    entries = parse_feed(OAI_2015).entries
    start, end = (moment.astimezone(EASTERN).date() for moment in submission_window(dt.date(2015, 1, 16)))
    assert (start, end) == (dt.date(2015, 1, 14), dt.date(2015, 1, 15))
    new = new_on_day(entries, category="cs.CV", created_from=start, created_to=end)
    # 1501.02894 (cs.CV, created 01-13, replaced 01-15) is a replacement: not new that day.
    assert [e.arxiv_id for e in new] == ["1501.03302", "1501.03719", "1501.03771", "1501.03779"]
    assert "1501.02894" in {e.arxiv_id for e in entries}


def oai_page(entries: list[FeedEntry], *, token: str | None, total: int) -> bytes:
    """One ListRecords page (metadataPrefix=arXiv) of `entries`, as arXiv's endpoint writes it."""
    records = []
    for entry in entries:
        created = entry.published_at.astimezone(EASTERN).date() if entry.published_at else DAY
        authors = "".join(
            f"<author><keyname>{escape(name.split()[-1])}</keyname>"
            f"<forenames>{escape(' '.join(name.split()[:-1]))}</forenames></author>"
            for name in entry.authors
        )
        records.append(
            f"<record><header><identifier>oai:arXiv.org:{entry.arxiv_id}</identifier>"
            f"<datestamp>{DAY}</datestamp><setSpec>cs</setSpec></header><metadata>"
            '<arXiv xmlns="http://arxiv.org/OAI/arXiv/">'
            f"<id>{entry.arxiv_id}</id><created>{created}</created><authors>{authors}</authors>"
            f"<title>{escape(entry.title)}</title><categories>{' '.join(entry.categories)}</categories>"
            f"<abstract>{escape(entry.abstract)}</abstract></arXiv></metadata></record>"
        )
    resumption = f'<resumptionToken cursor="0" completeListSize="{total}">{token or ""}</resumptionToken>'
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
        f"<responseDate>{DAY}T03:00:00Z</responseDate>"
        f'<request verb="ListRecords" metadataPrefix="arXiv" set="cs" from="{DAY}" until="{DAY}">'
        f"http://export.arxiv.org/oai2</request><ListRecords>{''.join(records)}{resumption}</ListRecords>"
        "</OAI-PMH>"
    ).encode()


def api_without(entries: list[FeedEntry]) -> bytes:
    """The recorded API answer less some entries (the API's index lags the announcement)."""
    ET.register_namespace("", ATOM.strip("{}"))
    root = ET.fromstring(API_ANSWER)
    gone = {entry.arxiv_id for entry in entries}
    for node in root.findall(f"{ATOM}entry"):
        ident = (node.findtext(f"{ATOM}id") or "").rsplit("/", 1)[-1].split("v")[0]
        if ident in gone:
            root.remove(node)
    written: bytes = ET.tostring(root, xml_declaration=True, encoding="utf-8")
    return written


def replacement() -> FeedEntry:
    """A cs.CV paper first submitted years ago and replaced on the day: dated the day, yet not new."""
    old = parse_feed(OAI_2015).entries
    return next(e for e in old if e.arxiv_id == "1501.02894")


@pytest.fixture
def arxiv(settings_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackServer]:
    monkeypatch.setattr("app.search.refresh.get_embedder", lambda settings: FakeEmbedder())
    half = len(CV) // 2
    script: dict[str, Reply | list[Reply]] = {
        "/rss/cs.CV": Reply(200, FEED),
        "/api/query": Reply(200, api_without(API_LAGGING)),
        "/oai": [
            Reply(200, oai_page([*CV[:half], replacement()], token="cs|page2", total=len(CV) + 1)),
            Reply(200, oai_page(CV[half:], token=None, total=len(CV) + 1)),
        ],
    }
    with LoopbackServer(script) as server:
        monkeypatch.setenv("ARXIV_RSS_URL", f"{server.url}/rss")
        monkeypatch.setenv("ARXIV_API_URL", f"{server.url}/api/query")
        monkeypatch.setenv("ARXIV_OAI_URL", f"{server.url}/oai")
        monkeypatch.setenv("ARXIV_RETRIES", "0")
        get_settings.cache_clear()
        yield server
    get_settings.cache_clear()


def test_oai_set_names_what_the_feed_and_the_lagging_api_both_missed(
    arxiv: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workers.tasks import fetch_category

    monkeypatch.setenv("COMPLETENESS_OAI", "true")
    get_settings.cache_clear()
    assert fetch_category.delay("cs.CV").state == "SUCCESS"
    asked = [(r.param("verb"), r.param("set"), r.param("from"), r.param("until"), r.param("resumptionToken"))
             for r in arxiv.requests_for("/oai")]  # fmt: skip
    assert asked == [
        ("ListRecords", "cs", "2025-12-16", "2025-12-16", None),
        ("ListRecords", None, None, None, "cs|page2"),  # the token goes alone, as OAI-PMH requires
    ]
    with session_scope(get_settings()) as session:
        assert listed_ids(session) == {e.arxiv_id for e in CV}  # all ten, five known only to OAI-PMH
        assert replacement().arxiv_id not in listed_ids(session)
        [check] = session.scalars(select(CompletenessCheck)).all()
    assert (check.expected, check.stored, check.missing, check.repaired, check.alert) == (
        42,
        42,
        10,
        10,
        False,
    )


def test_without_the_setting_only_the_api_is_asked(arxiv: LoopbackServer) -> None:
    from workers.tasks import fetch_category

    assert fetch_category.delay("cs.CV").state == "SUCCESS"
    assert arxiv.requests_for("/oai") == []
    with session_scope(get_settings()) as session:
        assert listed_ids(session) == {e.arxiv_id for e in CV if e not in API_LAGGING}
        [check] = session.scalars(select(CompletenessCheck)).all()
    assert (check.expected, check.missing, check.repaired, check.alert) == (37, 5, 5, False)


# New Year's Day 2026, a Thursday: arXiv announced nothing (no listing dated 2026-01-01).
NEW_YEAR, BEFORE, AFTER = dt.date(2026, 1, 1), dt.date(2025, 12, 31), dt.date(2026, 1, 2)


def test_a_holiday_moves_the_window_start_to_the_previous_announcement(session: Session) -> None:
    ingest_feed(session, feed=parse_feed(rss_feed(CV[:1], day=BEFORE)), categories=["cs.CV"])
    ingest_feed(session, feed=parse_feed(rss_feed(CV[1:2], day=AFTER)), categories=["cs.CV"])
    previous = previous_announcement(session, day=AFTER)
    assert previous == BEFORE
    # Friday's listing holds Tuesday 14:00 to Thursday 14:00 EST: the holiday skipped Wednesday's deadline.
    assert submission_window(AFTER, previous=previous) == (
        dt.datetime(2025, 12, 30, 19, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 1, 19, tzinfo=dt.UTC),
    )
    assert submission_window(AFTER) == (  # without a stored previous day: the business-day rule
        dt.datetime(2025, 12, 31, 19, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 1, 19, tzinfo=dt.UTC),
    )


def test_a_day_without_announcement_raises_no_alert_and_lists_nothing(session: Session) -> None:
    ingest_feed(session, feed=parse_feed(rss_feed(CV[:1], day=BEFORE)), categories=["cs.CV"])
    quiet = check_day(
        session, category="cs.CV", day=NEW_YEAR, expected=ExpectedPapers(tuple(CV), complete=False)
    )
    assert (quiet.expected, quiet.missing, quiet.repaired, quiet.alert) == (0, 0, 0, False)
    assert listed_ids(session, NEW_YEAR) == set()
    assert session.scalar(select(func.count()).select_from(CompletenessCheck)) == 0


def test_check_completeness_asks_arxiv_nothing_for_a_day_without_announcement(settings_env: Settings) -> None:
    with LoopbackServer({}) as server:
        settings = settings_env.model_copy(
            update={"arxiv_api_url": f"{server.url}/api/query", "arxiv_oai_url": f"{server.url}/oai",
                    "completeness_oai": True, "arxiv_retries": 0}
        )  # fmt: skip
        with session_scope(settings) as session:
            ingest_feed(session, feed=parse_feed(rss_feed(CV[:1], day=BEFORE)), categories=["cs.CV"])
        result = check_completeness(settings, category="cs.CV", day=NEW_YEAR)
        assert server.requests == []
    assert (result.expected, result.missing, result.alert) == (0, 0, False)
