"""One edition, fetched page by page and parsed: the adapters put together (fetch, then pure parse).

`iter_edition_pages` yields one `VenuePage` per document fetched — an OpenReview page of notes, an
Anthology collection file, a PMLR volume's BibTeX, a CVF listing or NeurIPS index, and then one per
paper page read for an abstract the listing lacks. Each page is whole or raises: a bad document gives
its one `VenueParseError` before anything of it is yielded. A caller that wants all or nothing uses
`harvest_edition`, which collects every page first.

Conditional GET: `validators(url)` returns the (etag, last_modified) stored for a URL; a 304 page
comes back with `not_modified` and no papers. Resumable: `need_abstract(paper_id)` says whether a
paper's abstract must still be fetched (papers already stored with one are skipped). One paper page
that is gone (404, 410) or has no abstract to read is skipped with a warning: the paper stays
without one (a rerun asks again), the edition's other ~2,000 pages are read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING

from app.errors import VenueFetchError, VenueParseError, first_line
from app.http_get import FetchResult
from app.venues.acl import parse_anthology_xml
from app.venues.catalog import Edition
from app.venues.cvf import parse_cvf_abstract, parse_cvf_listing
from app.venues.fetch import VenueClient
from app.venues.neurips import parse_neurips_abstract, parse_neurips_index
from app.venues.openreview import parse_notes_v1, parse_notes_v2
from app.venues.pmlr import parse_pmlr_bibtex
from app.venues.types import VenueDocument, VenuePaper

if TYPE_CHECKING:
    from app.config import Settings

log = logging.getLogger(__name__)
Validators = Callable[[str], tuple[str | None, str | None]]
GONE = frozenset({404, 410})  # a paper page that is not there: skipped, not the edition's failure


@dataclass(frozen=True, slots=True)
class VenueEndpoints:
    """Base URLs of the sources (tests point them at a loopback server)."""

    openreview_api: str = "https://api2.openreview.net"
    openreview_api_v1: str = "https://api.openreview.net"
    acl_xml: str = "https://raw.githubusercontent.com/acl-org/acl-anthology/master/data/xml"
    pmlr: str = "https://proceedings.mlr.press"
    cvf: str = "https://openaccess.thecvf.com"
    neurips: str = "https://papers.nips.cc"

    @classmethod
    def from_settings(cls, settings: Settings) -> VenueEndpoints:
        return cls(
            openreview_api=settings.openreview_api_url,
            openreview_api_v1=settings.openreview_api_v1_url,
            acl_xml=settings.acl_anthology_xml_url,
            pmlr=settings.pmlr_url,
            cvf=settings.cvf_url,
            neurips=settings.neurips_url,
        )


@dataclass(frozen=True, slots=True)
class VenuePage:
    """One fetched document of an edition and the papers parsed from it (none when not modified)."""

    url: str
    status: int
    papers: tuple[VenuePaper, ...]
    etag: str | None
    last_modified: str | None
    total: int | None = None  # OpenReview `count`

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def _no_validators(url: str) -> tuple[str | None, str | None]:
    return None, None


def iter_edition_pages(
    client: VenueClient,
    edition: Edition,
    *,
    endpoints: VenueEndpoints | None = None,
    validators: Validators = _no_validators,
    need_abstract: Callable[[str], bool] = lambda paper_id: True,
    page_size: int = 1000,
) -> Iterator[VenuePage]:
    """Every document of `edition`, fetched politely and parsed, in order."""
    endpoints = endpoints or VenueEndpoints()
    if edition.source == "openreview":
        yield from _openreview_pages(client, edition, endpoints, validators, page_size)
    elif edition.source == "acl":
        for acl_file in edition.acl_files:
            url = f"{endpoints.acl_xml.rstrip('/')}/{acl_file.collection}.xml"
            yield _page(
                client,
                url,
                validators,
                partial(_parse_acl, venue=edition.venue, volumes=acl_file.volumes),
            )
    elif edition.source == "pmlr":
        url = f"{endpoints.pmlr.rstrip('/')}/{edition.pmlr_volume}/assets/bib/bibliography.bib"
        yield _page(
            client,
            url,
            validators,
            lambda body, name: parse_pmlr_bibtex(body, venue=edition.venue, name=name),
        )
    elif edition.source == "cvf":
        url = f"{endpoints.cvf.rstrip('/')}/{edition.cvf_key}?day=all"
        yield from _listing_pages(
            client, edition, url, validators, need_abstract, parse_cvf_listing, parse_cvf_abstract
        )
    else:
        url = f"{endpoints.neurips.rstrip('/')}/paper_files/paper/{edition.year}"
        yield from _listing_pages(
            client, edition, url, validators, need_abstract, parse_neurips_index, parse_neurips_abstract
        )


def harvest_edition(
    client: VenueClient,
    edition: Edition,
    *,
    endpoints: VenueEndpoints | None = None,
    validators: Validators = _no_validators,
    need_abstract: Callable[[str], bool] = lambda paper_id: True,
    page_size: int = 1000,
) -> list[VenuePage]:
    """Every page of `edition`, all fetched and parsed before any is returned (all or nothing)."""
    pages = iter_edition_pages(
        client,
        edition,
        endpoints=endpoints,
        validators=validators,
        need_abstract=need_abstract,
        page_size=page_size,
    )
    return list(pages)


def _openreview_pages(
    client: VenueClient, edition: Edition, endpoints: VenueEndpoints, validators: Validators, page_size: int
) -> Iterator[VenuePage]:
    """Offset paging until `count` (or a short page) says the last page was read."""
    venueid = edition.openreview_venueid or ""
    if edition.openreview_api >= 2:
        url = f"{endpoints.openreview_api.rstrip('/')}/notes"
        query: dict[str, str | int] = {"content.venueid": venueid}
        parse = parse_notes_v2
    else:
        url = f"{endpoints.openreview_api_v1.rstrip('/')}/notes"
        query = {"invitation": f"{venueid}/-/Blind_Submission", "details": "directReplies"}
        parse = parse_notes_v1
    offset = 0
    while True:
        params = {**query, "limit": page_size, "offset": offset}
        key = f"{url}?{'&'.join(f'{k}={v}' for k, v in params.items())}"
        etag, last_modified = validators(key)
        response = client.get(url, params=params, etag=etag, last_modified=last_modified)
        if response.not_modified:
            yield _as_page(key, response, None)
            return
        document = parse(_body(response, key), venue=edition.venue, year=edition.year, name=key)
        yield _as_page(key, response, document)
        offset += document.notes_read
        if document.notes_read < page_size or (document.total is not None and offset >= document.total):
            return


def _parse_acl(body: bytes, name: str, *, venue: str, volumes: tuple[str, ...] | None) -> VenueDocument:
    return parse_anthology_xml(body, venue=venue, volumes=volumes, name=name)


def _page(
    client: VenueClient,
    url: str,
    validators: Validators,
    parse: Callable[[bytes, str], VenueDocument],
) -> VenuePage:
    etag, last_modified = validators(url)
    response = client.get(url, etag=etag, last_modified=last_modified)
    if response.not_modified:
        return _as_page(url, response, None)
    return _as_page(url, response, parse(_body(response, url), url))


def _listing_pages(
    client: VenueClient,
    edition: Edition,
    url: str,
    validators: Validators,
    need_abstract: Callable[[str], bool],
    parse_listing: Callable[..., VenueDocument],
    parse_abstract: Callable[..., str],
) -> Iterator[VenuePage]:
    """A listing without abstracts (CVF, NeurIPS), then each paper page read for the abstract it lacks."""
    listing = _page(
        client,
        url,
        validators,
        lambda body, name: parse_listing(
            body, venue=edition.venue, year=edition.year, page_url=url, name=name
        ),
    )
    yield listing
    for paper in listing.papers:
        if paper.abstract or not need_abstract(paper.paper_id):
            continue
        try:
            response = client.get(paper.url)
            abstract = parse_abstract(_body(response, paper.url), name=paper.url)
        except (VenueFetchError, VenueParseError) as exc:
            if isinstance(exc, VenueFetchError) and exc.status not in GONE:
                raise  # the source is failing, not this page: the caller keeps what came so far
            log.warning("abstract skipped", extra={"url": paper.url, "error": first_line(exc)})
            continue
        yield _as_page(paper.url, response, VenueDocument("abstract", (replace(paper, abstract=abstract),)))


def _body(response: FetchResult, name: str) -> bytes:
    if response.body is None:
        raise VenueParseError(f"{name}: empty answer (HTTP {response.status})")
    return response.body


def _as_page(url: str, response: FetchResult, document: VenueDocument | None) -> VenuePage:
    return VenuePage(
        url=url,
        status=response.status,
        papers=document.papers if document else (),
        etag=response.etag,
        last_modified=response.last_modified,
        total=document.total if document else None,
    )
