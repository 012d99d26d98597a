"""Each source fetched from a real loopback HTTP server that pages, fails and revalidates like the real one."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import Settings
from app.errors import VenueFetchError, VenueParseError
from app.venues.catalog import AclFile, Edition, find_edition
from app.venues.fetch import HostLimiter, VenueClient
from app.venues.harvest import VenueEndpoints, VenuePage, harvest_edition, iter_edition_pages
from tests.loopback import LoopbackServer, Reply

DATA = Path(__file__).resolve().parents[1] / "data" / "venues"
CONTACT = "venues-test@example.org"


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(sleeps: list[float]) -> Iterator[VenueClient]:
    settings = Settings(arxiv_contact=CONTACT, venue_retries=2, venue_min_interval=0)
    with VenueClient.from_settings(settings, sleep=sleeps.append, backoff=0.01) as venue_client:
        yield venue_client


def _endpoints(server: LoopbackServer) -> VenueEndpoints:
    base = server.url
    return VenueEndpoints(
        openreview_api=f"{base}/v2",
        openreview_api_v1=f"{base}/v1",
        acl_xml=f"{base}/xml",
        pmlr=base,
        cvf=base,
        neurips=base,
    )


def _v2_page(records: list[dict[str, object]], count: int) -> bytes:
    """An API v2 /notes page built from real COLM 2024 records (Paper Copilot's flattening undone)."""
    notes = [
        {
            "id": record["id"],
            "forum": record["id"],
            "content": {
                "title": {"value": record["title"]},
                "authors": {"value": str(record["author"]).split(";")},
                "abstract": {"value": record["abstract"]},
                "keywords": {"value": str(record["keywords"]).split(";")},
                "venue": {"value": "COLM 2024"},
                "venueid": {"value": "colmweb.org/COLM/2024/Conference"},
            },
        }
        for record in records
    ]
    return json.dumps({"notes": notes, "count": count}).encode()


def test_openreview_v2_pages_by_offset_until_count_and_rides_out_429_and_500(
    server: LoopbackServer, client: VenueClient, sleeps: list[float]
) -> None:
    colm = json.loads((DATA / "openreview/derived/papercopilot-colm2024.first200.json").read_bytes())[:5]
    server.script(
        "/v2/notes",
        Reply(429, b'{"name":"RateLimitError","status":429}', {"Retry-After": "7"}),
        Reply(200, _v2_page(colm[:2], 5)),
        Reply(500, b"oops"),
        Reply(200, _v2_page(colm[2:4], 5)),
        Reply(200, _v2_page(colm[4:], 5)),
    )
    edition = find_edition("COLM.2024")
    pages = harvest_edition(client, edition, endpoints=_endpoints(server), page_size=2)
    assert [len(page.papers) for page in pages] == [2, 2, 1]
    assert [p.paper_id for page in pages for p in page.papers] == [f"{r['id']}@OpenReview" for r in colm]
    assert pages[0].total == 5
    requests = server.requests_for("/v2/notes")
    assert [(r.param("offset"), r.param("limit")) for r in requests] == [
        ("0", "2"), ("0", "2"), ("2", "2"), ("2", "2"), ("4", "2"),
    ]  # fmt: skip
    assert all(r.param("content.venueid") == "colmweb.org/COLM/2024/Conference" for r in requests)
    assert CONTACT in requests[0].headers["user-agent"]
    assert 7.0 in sleeps  # Retry-After was honoured


def test_openreview_v1_asks_blind_submissions_with_their_decisions(
    server: LoopbackServer, client: VenueClient
) -> None:
    crawl = json.loads((DATA / "openreview/api-v1/erikbird-example_output.json").read_bytes())
    notes = []
    for submission in crawl[0]["submissions"]:
        note = {key: value for key, value in submission.items() if key not in ("notes", "revisions")}
        note["details"] = {"directReplies": submission["notes"]}
        notes.append(note)
    server.script("/v1/notes", Reply(200, json.dumps({"notes": notes, "count": 2}).encode()))
    edition = Edition(
        "NeurIPS", 2018, "openreview", openreview_venueid="NIPS.cc/2018/Workshop/CDNNRIA", openreview_api=1
    )
    pages = harvest_edition(client, edition, endpoints=_endpoints(server))
    assert [p.title for p in pages[0].papers] == [
        "Targeted Dropout",
        "Rethinking the Value of Network Pruning",
    ]
    request = server.requests_for("/v1/notes")[0]
    assert request.param("invitation") == "NIPS.cc/2018/Workshop/CDNNRIA/-/Blind_Submission"
    assert request.param("details") == "directReplies"


def test_acl_collection_revalidates_with_etag_and_304_changes_nothing(
    server: LoopbackServer, client: VenueClient
) -> None:
    xml = (DATA / "acl-anthology/2024.acl.first150.xml").read_bytes()
    server.script(
        "/xml/2024.acl.xml", Reply(200, xml, {"ETag": '"v1"'}), Reply(304, headers={"ETag": '"v1"'})
    )
    server.script("/xml/2024.findings.xml", Reply(404))
    edition = Edition("ACL", 2024, "acl", acl_files=(AclFile("2024.acl"),))
    first = harvest_edition(client, edition, endpoints=_endpoints(server))
    assert len(first[0].papers) == 150 and first[0].etag == '"v1"'
    stored = {page.url: (page.etag, page.last_modified) for page in first}
    again = harvest_edition(client, edition, endpoints=_endpoints(server), validators=stored.__getitem__)
    assert again[0].not_modified and again[0].papers == ()
    assert server.requests_for("/xml/2024.acl.xml")[1].headers["if-none-match"] == '"v1"'


def test_acl_missing_file_is_a_fetch_error(server: LoopbackServer, client: VenueClient) -> None:
    server.script("/xml/2024.acl.xml", Reply(404))
    with pytest.raises(VenueFetchError, match="HTTP 404"):
        harvest_edition(client, find_edition("ACL.2024"), endpoints=_endpoints(server))


def test_pmlr_volume_bibtex_after_a_500(server: LoopbackServer, client: VenueClient) -> None:
    bib = (DATA / "pmlr/v247-colt2024/colt2024.bib").read_bytes()
    server.script("/v247/assets/bib/bibliography.bib", Reply(500), Reply(200, bib))
    pages = harvest_edition(client, find_edition("COLT.2024"), endpoints=_endpoints(server))
    assert len(pages[0].papers) == 170
    assert pages[0].papers[1].paper_id == "addanki24a@v247@PMLR"


def test_pmlr_truncated_bibtex_yields_nothing(server: LoopbackServer, client: VenueClient) -> None:
    bib = (DATA / "pmlr/v247-colt2024/colt2024.bib").read_bytes()
    server.script("/v247/assets/bib/bibliography.bib", Reply(200, bib[: len(bib) // 3]))
    seen: list[VenuePage] = []
    with pytest.raises(VenueParseError, match="truncated"):
        seen.extend(iter_edition_pages(client, find_edition("COLT.2024"), endpoints=_endpoints(server)))
    assert seen == []


def _cvf_paper_page(title: str, abstract: str) -> bytes:
    """A CVF paper page in the documented shape (#papertitle, #authors, #abstract)."""
    return (
        "<html><body><div id='content'><dl><dd><div id='papertitle'>"
        f"{html.escape(title)}</div><div id='authors'><br><b><i>A. Author</i></b></div>"
        f"<div id='abstract'>\n{html.escape(abstract)}\n</div></dd></dl></div></body></html>"
    ).encode()


def test_cvf_listing_then_abstract_pages_only_where_needed(
    server: LoopbackServer, client: VenueClient
) -> None:
    listing = (DATA / "cvf/cvpr2020-openaccess-listing.complete93.html").read_bytes()
    server.script("/CVPR2020", Reply(200, listing))
    stem = "Wu_Unsupervised_Learning_of_Probably_Symmetric_Deformable_3D_Objects_From_Images_CVPR_2020_paper"
    server.script(
        f"/content_CVPR_2020/html/{stem}.html",
        Reply(503, headers={"Retry-After": "1"}),
        Reply(200, _cvf_paper_page("T", "We  propose a method.")),
    )
    pages = harvest_edition(
        client,
        find_edition("CVPR.2020"),
        endpoints=_endpoints(server),
        need_abstract=lambda paper_id: paper_id == f"{stem}@CVF",
    )
    assert len(pages) == 2 and len(pages[0].papers) == 93
    assert server.requests_for("/CVPR2020")[0].param("day") == "all"
    assert pages[1].papers[0].paper_id == f"{stem}@CVF"
    assert pages[1].papers[0].abstract == "We propose a method."
    assert pages[0].papers[0].pdf_url == f"{server.url}/content_CVPR_2020/papers/{stem}.pdf"


def test_cvf_truncated_listing_is_one_error(server: LoopbackServer, client: VenueClient) -> None:
    server.script("/CVPR2020", Reply(200, (DATA / "cvf/cvpr2020-openaccess-listing.saved.html").read_bytes()))
    seen: list[VenuePage] = []
    with pytest.raises(VenueParseError, match="truncated CVF listing"):
        seen.extend(iter_edition_pages(client, find_edition("CVPR.2020"), endpoints=_endpoints(server)))
    assert seen == []
    assert [r.path for r in server.requests] == ["/CVPR2020"]  # no paper page was asked for


def _neurips_index(
    year: int, records: list[tuple[str, dict[str, object]]], *, complete: bool = True
) -> bytes:
    """A proceedings index in the documented shape (ul.paper-list li a + span.paper-authors)."""
    items = "".join(
        f'<li class="conference"><div class="paper-content"><a title="paper title" '
        f'href="/paper_files/paper/{year}/hash/{url.rsplit("/", 1)[1]}">{html.escape(str(r["title"]))}</a>'
        f'<span class="paper-authors">{html.escape(", ".join(r["authors"]))}</span></div></li>\n'  # type: ignore[arg-type]
        for url, r in records
    )
    page = f"<!DOCTYPE html><html><body><ul class='paper-list'>\n{items}</ul></body></html>"
    return page.encode() if complete else page.encode()[: len(page) // 2]


def _neurips_paper_page(abstract: str) -> bytes:
    return (
        "<!DOCTYPE html><html><body><div class='container-fluid'><div class='col p-3'><h4>Title</h4>"
        f"<h4>Authors</h4><p><i>X</i></p><h4>Abstract</h4><p><p>{html.escape(abstract)}</p></p>"
        "</div></div></body></html>"
    ).encode()


def test_neurips_index_and_abstracts(server: LoopbackServer, client: VenueClient) -> None:
    glimpse = json.loads((DATA / "neurips/glimpse-NeurIPS2021.first150.json").read_bytes())
    records = list(glimpse.items())[:3]
    server.script("/paper_files/paper/2021", Reply(200, _neurips_index(2021, records)))
    for url, record in records:
        server.script(
            url.replace("https://papers.nips.cc", ""),
            Reply(200, _neurips_paper_page(str(record["abstract"]))),
        )
    edition = Edition("NeurIPS", 2021, "neurips")
    pages = harvest_edition(client, edition, endpoints=_endpoints(server))
    assert [p.title for p in pages[0].papers] == [r["title"] for _, r in records]
    assert pages[0].papers[0].authors == tuple(records[0][1]["authors"])  # type: ignore[arg-type]
    abstracts = [page.papers[0].abstract for page in pages[1:]]
    assert abstracts == [" ".join(str(r["abstract"]).split()) for _, r in records]
    assert pages[1].papers[0].paper_id == "000c076c390a4c357313fca29e390ece@2021@NeurIPS"


def test_neurips_truncated_index_is_one_error(server: LoopbackServer, client: VenueClient) -> None:
    glimpse = json.loads((DATA / "neurips/glimpse-NeurIPS2021.first150.json").read_bytes())
    server.script(
        "/paper_files/paper/2021",
        Reply(200, _neurips_index(2021, list(glimpse.items())[:20], complete=False)),
    )
    with pytest.raises(VenueParseError, match="truncated NeurIPS index"):
        harvest_edition(client, Edition("NeurIPS", 2021, "neurips"), endpoints=_endpoints(server))


def test_retries_run_out_into_one_fetch_error(server: LoopbackServer, client: VenueClient) -> None:
    server.script("/v247/assets/bib/bibliography.bib", Reply(503))
    with pytest.raises(VenueFetchError, match=r"failed after 3 attempt\(s\): HTTP 503") as caught:
        harvest_edition(client, find_edition("COLT.2024"), endpoints=_endpoints(server))
    assert caught.value.status == 503
    assert len(server.requests) == 3


def test_host_limiter_spaces_requests_per_host_only() -> None:
    now = [0.0]
    slept: list[float] = []
    limiter = HostLimiter(2.0, clock=lambda: now[0], sleep=slept.append)
    limiter.wait("https://api2.openreview.net/notes")
    limiter.wait("https://openaccess.thecvf.com/CVPR2024")  # another host: no wait
    limiter.wait("https://api2.openreview.net/notes?offset=1000")  # same host: waits its turn
    assert slept == [2.0]
