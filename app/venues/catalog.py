"""The venues this service knows how to fetch: `ICLR.2024` -> a source and its parameters.

Names are papers.cool's (`/venue/{Venue}.{Year}`: ICLR, ICML, NeurIPS, ACL, EMNLP, NAACL, CVPR, ICCV,
COLT, AISTATS, UAI, CoRL, COLM, IWSLT ...). Only sources with an adapter here are listed; papers.cool's
other venues (AAAI, IJCAI, ECCV, INTERSPEECH, USENIX ...) need adapters of their own. Each edition names
where its accepted papers are read:
- openreview: the venue id (`ICLR.cc/2024/Conference`) and the API version (2 from 2024 for most
  venues; 1 before, read through the Blind_Submission invitation);
- acl: Anthology collection files and, per file, the volumes to keep (None: all of them), e.g.
  `2024.acl` (long, short, demos, srw, tutorials) and `2024.findings` volume `acl`;
- pmlr: the volume (`v235`);
- cvf: the conference key of openaccess.thecvf.com (`CVPR2024`);
- neurips: the proceedings year.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from app.errors import UnknownVenueError
from app.venues.types import SourceName


@dataclass(frozen=True, slots=True)
class AclFile:
    """One collection file of the Anthology and the volume ids (`2024.findings-acl`) taken from it."""

    collection: str  # "2024.acl": data/xml/2024.acl.xml
    volumes: tuple[str, ...] | None = None  # None: every volume of the file


@dataclass(frozen=True, slots=True)
class Edition:
    """One edition of a venue and where its papers are read."""

    venue: str  # "ICLR"
    year: int
    source: SourceName
    openreview_venueid: str | None = None  # "ICLR.cc/2024/Conference"
    openreview_api: int = 2  # 1 for venues before 2024 (and NeurIPS 2021-2022)
    acl_files: tuple[AclFile, ...] = ()
    pmlr_volume: str | None = None  # "v235"
    cvf_key: str | None = None  # "CVPR2024"

    @property
    def name(self) -> str:
        return f"{self.venue}.{self.year}"


def _openreview(venue: str, years: range, api_v2_from: int, domain: str | None = None) -> list[Edition]:
    group = domain or f"{venue}.cc"
    return [
        Edition(
            venue,
            year,
            "openreview",
            openreview_venueid=f"{group}/{year}/Conference",
            openreview_api=2 if year >= api_v2_from else 1,
        )
        for year in years
    ]


def _pmlr(venue: str, volumes: dict[int, int]) -> list[Edition]:
    return [Edition(venue, year, "pmlr", pmlr_volume=f"v{number}") for year, number in volumes.items()]


def _acl(venue: str, years: Iterable[int], *, findings: bool = True) -> list[Edition]:
    token = venue.lower()
    editions = []
    for year in years:
        files = [AclFile(f"{year}.{token}")]
        if findings and year >= 2020:
            files.append(AclFile(f"{year}.findings", (f"{year}.findings-{token}",)))
        editions.append(Edition(venue, year, "acl", acl_files=tuple(files)))
    return editions


def _cvf(venue: str, years: range) -> list[Edition]:
    return [Edition(venue, year, "cvf", cvf_key=f"{venue}{year}") for year in years]


# PMLR volume numbers, as listed on proceedings.mlr.press.
_ICML = {2019: 97, 2020: 119, 2021: 139, 2022: 162, 2023: 202}
_COLT = {2019: 99, 2020: 125, 2021: 134, 2022: 178, 2023: 195, 2024: 247, 2025: 291}
_AISTATS = {2019: 89, 2020: 108, 2021: 130, 2022: 151, 2023: 206, 2024: 238, 2025: 258}
_UAI = {2019: 115, 2020: 124, 2021: 161, 2022: 180, 2023: 216, 2024: 244, 2025: 286}
_CORL = {2019: 100, 2020: 155, 2021: 164, 2022: 205, 2023: 229, 2024: 270, 2025: 305}

EDITIONS: tuple[Edition, ...] = (
    *_openreview("ICLR", range(2018, 2026), api_v2_from=2024),
    *_openreview("NeurIPS", range(2021, 2026), api_v2_from=2023),
    *_openreview("ICML", range(2024, 2026), api_v2_from=2024),
    *_openreview("COLM", range(2024, 2026), api_v2_from=2024, domain="colmweb.org/COLM"),
    *[Edition("NeurIPS", year, "neurips") for year in range(1987, 2021)],
    *_pmlr("ICML", _ICML),
    *_pmlr("COLT", _COLT),
    *_pmlr("AISTATS", _AISTATS),
    *_pmlr("UAI", _UAI),
    *_pmlr("CoRL", _CORL),
    *_acl("ACL", range(2016, 2026)),
    *_acl("EMNLP", range(2016, 2026)),
    *_acl("NAACL", (2016, 2018, 2019, 2021, 2022, 2024, 2025)),
    *_acl("IWSLT", range(2020, 2026), findings=False),
    *_cvf("CVPR", range(2013, 2026)),
    *_cvf("ICCV", range(2013, 2026, 2)),
    *_cvf("WACV", range(2020, 2026)),
)

_EDITION_RE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9\-]*)\.(\d{4})\s*$")


def parse_edition(name: str) -> tuple[str, int]:
    """`"ICLR.2024"` -> ("ICLR", 2024), catalogued or not; UnknownVenueError for anything else."""
    match = _EDITION_RE.match(name)
    if match is None or not 1950 <= int(match.group(2)) <= 2100:
        raise UnknownVenueError(f"{name!r} is not an edition name like ICLR.2024")
    return match.group(1), int(match.group(2))


def find_edition(name: str) -> Edition:
    """`"ICLR.2024"` -> its Edition; the venue token is matched without regard to case."""
    venue, year = parse_edition(name)
    for edition in EDITIONS:
        if edition.venue.lower() == venue.lower() and edition.year == year:
            return edition
    raise UnknownVenueError(f"{name!r} is not in the venue catalog (see app/venues/catalog.py)")


def iter_editions(venue: str | None = None) -> Iterator[Edition]:
    """Every known edition, or those of one venue, newest first."""
    chosen = [e for e in EDITIONS if venue is None or e.venue.lower() == venue.lower()]
    yield from sorted(chosen, key=lambda edition: (edition.venue, -edition.year))


def venue_name(token: str) -> str | None:
    """The catalog's spelling of a venue token ("neurips" -> "NeurIPS", "nips" -> "NeurIPS")."""
    token = {"nips": "neurips"}.get(token.lower(), token.lower())
    return next((edition.venue for edition in EDITIONS if edition.venue.lower() == token), None)
