"""`coolpapers venue ingest` (--file and live) and the `fetch.venue` task, on real databases."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import func, select
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings
from app.store.db import session_scope
from app.store.models import Paper, VenueEntry
from app.venues.acl import parse_anthology_xml
from app.venues.cvf import parse_cvf_listing
from app.venues.documents import parse_venue_file
from tests.loopback import LoopbackServer, Reply
from tests.web.test_venue_pages import FIXTURES, VENUES

runner = CliRunner()


def _counts(settings: Settings) -> tuple[int, int]:
    with session_scope(settings) as session:
        papers = session.scalar(select(func.count()).select_from(Paper).where(Paper.source != "arxiv"))
        entries = session.scalar(select(func.count()).select_from(VenueEntry))
    return papers or 0, entries or 0


def test_every_fixture_ingests_from_file_and_again_changes_nothing(settings_env: Settings) -> None:
    expected = len({p.paper_id for path in FIXTURES for p in parse_venue_file(path).papers})
    for path in FIXTURES:
        result = runner.invoke(cli, ["venue", "ingest", "--file", str(path), "--no-embed"])
        assert result.exit_code == 0, result.output
        assert " new," in result.output
    assert _counts(settings_env) == (expected, expected)
    again = runner.invoke(cli, ["venue", "ingest", "--file", str(FIXTURES[0]), "--no-embed"])
    assert again.exit_code == 0 and " 0 new, 0 updated" in again.output
    assert _counts(settings_env) == (expected, expected)


def test_two_neurips_years_keep_their_papers_apart(settings_env: Settings) -> None:
    """The proceedings reuse a paper hash across years (5 of 2018's first 200 are also among 2021's
    first 150): with the hash alone as the id, 2018's ingest overwrote those 2021 papers."""
    files = {
        2021: "neurips/glimpse-NeurIPS2021.first150.json",
        2018: "neurips/papercopilot-nips2018.first200.json",
    }
    hashes = {
        year: {p.url.rsplit("/", 1)[1][:32] for p in parse_venue_file(VENUES / f).papers}
        for year, f in files.items()
    }
    assert len(hashes[2021] & hashes[2018]) == 5
    for path in files.values():
        result = runner.invoke(cli, ["venue", "ingest", "--file", str(VENUES / path), "--no-embed"])
        assert result.exit_code == 0, result.output
    with session_scope(settings_env) as session:
        per_year = dict(
            session.execute(
                select(VenueEntry.year, func.count())
                .where(VenueEntry.venue == "NeurIPS")
                .group_by(VenueEntry.year)
            ).all()
        )
    assert per_year == {2021: 150, 2018: 200}


def test_a_truncated_document_is_one_error_and_stores_nothing(settings_env: Settings) -> None:
    truncated = VENUES / "cvf" / "cvpr2020-openaccess-listing.saved.html"
    result = runner.invoke(cli, ["venue", "ingest", "--file", str(truncated), "--no-embed"])
    assert result.exit_code == 1
    assert "truncated CVF listing" in result.output
    assert _counts(settings_env) == (0, 0)


@pytest.fixture
def anthology(settings_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackServer]:
    with LoopbackServer() as server:
        monkeypatch.setenv("ACL_ANTHOLOGY_XML_URL", f"{server.url}/xml")
        monkeypatch.setenv("VENUE_MIN_INTERVAL", "0")
        from app.config import get_settings

        get_settings.cache_clear()
        yield server
        get_settings.cache_clear()


def test_live_ingest_then_a_rerun_revalidates(anthology: LoopbackServer, settings_env: Settings) -> None:
    xml = (VENUES / "acl-anthology" / "2024.acl.first150.xml").read_bytes()
    # Findings of ACL 2024, in the Anthology's shape: the same records under 2024.findings, volume acl.
    findings = xml.replace(b'<collection id="2024.acl"', b'<collection id="2024.findings"')
    findings = findings.replace(b'<volume id="long"', b'<volume id="acl"')
    kept = ("2024.findings-acl",)
    in_findings = len(parse_anthology_xml(findings, venue="ACL", volumes=kept, name="findings").papers)
    anthology.script(
        "/xml/2024.acl.xml", Reply(200, xml, {"ETag": '"a1"'}), Reply(304, headers={"ETag": '"a1"'})
    )
    anthology.script("/xml/2024.findings.xml", Reply(200, findings, {"ETag": '"f1"'}), Reply(304))
    result = runner.invoke(cli, ["venue", "ingest", "--source", "acl", "--venue", "ACL.2024", "--no-embed"])
    assert result.exit_code == 0, result.output
    total = 150 + in_findings
    assert f"ACL.2024: {total} papers read from 2 documents, {total} new" in result.output
    # The task beat sends: the same edition, asked with the stored validators, answers 304.
    from workers.venues import refresh_venue

    outcome = refresh_venue("ACL.2024")
    assert outcome["not_modified"] is True
    assert anthology.requests_for("/xml/2024.acl.xml")[1].headers["if-none-match"] == '"a1"'
    assert _counts(settings_env) == (total, total)


def test_cli_refuses_a_source_that_is_not_the_editions(settings_env: Settings) -> None:
    result = runner.invoke(cli, ["venue", "ingest", "--source", "pmlr", "--venue", "ICLR.2024"])
    assert result.exit_code == 1 and "read from openreview, not pmlr" in result.output
    unknown = runner.invoke(cli, ["venue", "ingest", "--venue", "FOO.2024"])
    assert unknown.exit_code == 1 and "not in the venue catalog" in unknown.output


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["acl-anthology/2023.wnu.xml", "--venue", "ICLR.1999"], "its papers are of 2023, not 1999"),
        (["cvf/glimpse-CVPR2022.first150.json", "--venue", "NeurIPS.2022"], "its papers come from cvf, not"),
        (["acl-anthology/2023.wnu.xml", "--source", "pmlr"], "its papers come from acl, not pmlr"),
        (
            ["acl-anthology/2023.wnu.xml", "--venue", "COLT.-5"],
            "is not an edition name like ICLR.2024",
        ),
        (
            ["acl-anthology/2023.wnu.xml", "--venue", "COLT.abc"],
            "is not an edition name like ICLR.2024",
        ),
    ],
)
def test_a_file_is_never_stored_under_another_edition(
    settings_env: Settings, args: list[str], said: str
) -> None:
    """--venue and --source were applied to any file: 150 CVF papers were stored as NeurIPS.2022."""
    result = runner.invoke(cli, ["venue", "ingest", "--file", str(VENUES / args[0]), *args[1:], "--no-embed"])
    assert result.exit_code == 1 and said in result.output
    assert _counts(settings_env) == (0, 0)


def test_beat_refreshes_the_venues_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from workers.schedule import build_beat_schedule

    schedule = build_beat_schedule(Settings(venues=("ICLR.2025", "ACL.2024")))
    entry = schedule["venue-ACL.2024"]
    assert entry["task"] == "fetch.venue" and entry["args"] == ["ACL.2024"]
    assert entry["options"]["queue"] == "fetch" and entry["options"]["expires"] < entry["schedule"]
    assert "venue-ICLR.2025" in schedule


def _cvf_page(abstract: str | None) -> bytes:
    """A CVF paper page in the documented shape; without the #abstract block when `abstract` is None."""
    block = f"<div id='abstract'>\n{abstract}\n</div>" if abstract is not None else ""
    return (
        "<html><body><div id='content'><dl><dd><div id='papertitle'>T</div>"
        f"<div id='authors'><br><b><i>A. Author</i></b></div>{block}</dd></dl></div></body></html>"
    ).encode()


def test_a_cvf_source_failing_midway_keeps_the_listing_and_the_abstracts_read(
    settings_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failing paper page stored nothing of the edition's ~2,000 and the rerun began again: now one
    gone page (404) or one without an abstract is skipped, and when the source itself fails the
    listing and the abstracts read so far are kept; the rerun reads only the missing abstracts."""
    from app.config import get_settings

    listing = (VENUES / "cvf" / "cvpr2020-openaccess-listing.complete93.html").read_bytes()
    with LoopbackServer() as server:
        base = f"{server.url}/CVPR2020"
        papers = parse_cvf_listing(listing, venue="CVPR", year=2020, page_url=base, name="listing").papers
        gone, blank, good, failing = (urlsplit(p.url).path for p in papers[:4])
        server.script("/CVPR2020", Reply(200, listing))
        server.script(blank, Reply(200, _cvf_page(None)))
        server.script(good, Reply(200, _cvf_page("Read in the first run.")))
        server.script(failing, Reply(503, b"busy"), Reply(200, _cvf_page("Read in the rerun.")))
        monkeypatch.setenv("CVF_URL", server.url)
        monkeypatch.setenv("VENUE_MIN_INTERVAL", "0")
        monkeypatch.setenv("VENUE_RETRIES", "0")
        get_settings.cache_clear()
        args = ["venue", "ingest", "--venue", "CVPR.2020", "--no-embed"]
        first = runner.invoke(cli, args)
        assert first.exit_code == 1
        assert "HTTP 503" in first.stderr and "CVPR.2020's listing and 1 abstracts stored" in first.stderr
        assert _counts(get_settings()) == (93, 93)
        assert not server.requests_for(urlsplit(papers[4].url).path)  # stopped at the failing source
        second = runner.invoke(cli, args)
        assert second.exit_code == 0, second.output
        assert len(server.requests_for(good)) == 1  # stored with its abstract: not asked again
        assert len(server.requests_for(gone)) == len(server.requests_for(blank)) == 2  # still missing
        assert len(server.requests_for(urlsplit(papers[-1].url).path)) == 1
    with session_scope(get_settings()) as session:
        abstracts = dict(
            session.execute(select(Paper.title, Paper.abstract).where(Paper.abstract != "")).all()
        )
    assert sorted(abstracts.values()) == ["Read in the first run.", "Read in the rerun."]
    assert _counts(get_settings()) == (93, 93)
    get_settings.cache_clear()


@pytest.mark.parametrize("stop", [SoftTimeLimitExceeded, KeyboardInterrupt])
def test_a_cvf_ingest_stopped_midway_keeps_what_it_read(
    settings_env: Settings, monkeypatch: pytest.MonkeyPatch, stop: type[BaseException]
) -> None:
    """A worker's soft time limit (900 s; an edition's ~2,000 abstracts take over an hour at the polite
    interval) or Ctrl-C stored nothing, so the worker never got through an edition: now the listing
    and the abstracts read are stored, and the stop goes on (the task retries: workers/venues.py)."""
    from app.config import get_settings
    from app.store.venue_ingest import ingest_edition
    from app.venues.catalog import find_edition
    from workers.venues import VenueRetryTask

    listing = (VENUES / "cvf" / "cvpr2020-openaccess-listing.complete93.html").read_bytes()
    with LoopbackServer() as server:
        server.script("/CVPR2020", Reply(200, listing))
        papers = parse_cvf_listing(
            listing, venue="CVPR", year=2020, page_url=f"{server.url}/CVPR2020", name="l"
        )
        for paper in papers.papers:
            server.script(urlsplit(paper.url).path, Reply(200, _cvf_page(f"Abstract of {paper.paper_id}.")))
        monkeypatch.setenv("CVF_URL", server.url)
        monkeypatch.setenv("VENUE_MIN_INTERVAL", "0")
        get_settings.cache_clear()
        pages: list[object] = []

        def stop_after_three(page: object) -> None:
            pages.append(page)
            if len(pages) == 3:  # the listing and two abstracts read
                raise stop()

        with pytest.raises(stop):
            ingest_edition(get_settings(), find_edition("CVPR.2020"), on_page=stop_after_three)
        assert _counts(get_settings()) == (93, 93)
        with session_scope(get_settings()) as session:
            assert session.scalar(select(func.count()).select_from(Paper).where(Paper.abstract != "")) == 2
        ingest_edition(get_settings(), find_edition("CVPR.2020"))  # the retry: only the 91 missing
        assert len(server.requests) == 3 + 1 + 91
    assert SoftTimeLimitExceeded in VenueRetryTask.autoretry_for
    get_settings.cache_clear()
