"""The catalog resolves papers.cool's edition names to a source and its parameters."""

from __future__ import annotations

import pytest

from app.errors import UnknownVenueError
from app.venues.catalog import EDITIONS, find_edition, iter_editions


def test_find_edition_resolves_each_source_kind() -> None:
    iclr = find_edition("ICLR.2024")
    assert (iclr.source, iclr.openreview_venueid, iclr.openreview_api) == (
        "openreview",
        "ICLR.cc/2024/Conference",
        2,
    )
    assert find_edition("ICLR.2023").openreview_api == 1
    assert find_edition("icml.2023").pmlr_volume == "v202"  # the venue token is matched without case
    assert find_edition("COLT.2024").pmlr_volume == "v247"
    acl = find_edition("ACL.2024")
    assert [(f.collection, f.volumes) for f in acl.acl_files] == [
        ("2024.acl", None),
        ("2024.findings", ("2024.findings-acl",)),
    ]
    assert find_edition("CVPR.2024").cvf_key == "CVPR2024"
    assert find_edition("NeurIPS.2019").source == "neurips"
    assert find_edition("NeurIPS.2024").source == "openreview"


@pytest.mark.parametrize("name", ["ICLR", "ICLR.24", "AAAI.2024", "ICCV.2024", ""])
def test_find_edition_refuses_unknown_names(name: str) -> None:
    with pytest.raises(UnknownVenueError):
        find_edition(name)


def test_catalog_names_each_edition_once() -> None:
    names = [edition.name for edition in EDITIONS]
    assert len(names) == len(set(names))
    assert [e.year for e in iter_editions("COLT")][:2] == [2025, 2024]
