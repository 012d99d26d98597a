"""The one declaration of a paper's fields: `FeedEntry`'s annotations, read into `PAPER_FIELDS`."""

from __future__ import annotations

import dataclasses

from app.arxiv.types import PAPER_FIELDS, SHOWN_FIELDS, FeedEntry, Shown, Stored


def test_paper_fields_are_the_stored_fields_of_feed_entry_in_order() -> None:
    declared = [f.name for f in dataclasses.fields(FeedEntry)]
    assert [spec.name for spec in PAPER_FIELDS] == [name for name in declared if name != "announce_type"]
    assert PAPER_FIELDS[0].name == "arxiv_id"
    assert PAPER_FIELDS[0].stored == Stored(
        "varchar(200)", refresh="version", unique=True
    )  # venue ids run long


def test_paper_fields_read_nullability_and_type_from_the_annotation() -> None:
    by_name = {spec.name: spec for spec in PAPER_FIELDS}
    assert (by_name["title"].annotation, by_name["title"].nullable) == (str, False)
    assert (by_name["version"].annotation, by_name["version"].nullable) == (int | None, True)
    assert (by_name["authors"].annotation, by_name["authors"].nullable) == (tuple[str, ...], False)
    assert by_name["msc_class"].stored == Stored("text")  # refreshed by "fill" unless it says otherwise


def test_shown_fields_are_the_detail_lines_in_declaration_order() -> None:
    assert [name for name, _ in SHOWN_FIELDS] == ["comments", "journal_ref", "doi", "msc_class", "acm_class"]
    assert dict(SHOWN_FIELDS)["journal_ref"] == Shown("Journal ref", "journal")  # papers.cool's class
    assert dict(SHOWN_FIELDS)["doi"].link == "https://doi.org/{}"
