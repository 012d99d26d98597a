"""The category picker's data (app/web/picker.py) and the index page that renders it."""

from __future__ import annotations

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from app.arxiv.taxonomy import taxonomy
from app.web.picker import GROUP_ORDER, category_groups


def test_category_groups_hold_every_active_category_once() -> None:
    listed = [c.code for g in category_groups() for a in g.archives for c in a.categories]
    active = {c.code for c in taxonomy().categories.values() if c.active and not c.code.startswith("test")}
    assert len(listed) == len(set(listed)) and set(listed) == active
    assert [g.name for g in category_groups()] == list(GROUP_ORDER)  # arXiv's order, no test archive


def test_category_groups_are_by_archive_with_names() -> None:
    cs = next(a for g in category_groups() for a in g.archives if a.code == "cs")
    assert cs.name == "Computer Science"
    assert {c.archive for c in cs.categories} == {"cs"}
    assert next(c for c in cs.categories if c.code == "cs.LG").name == "Machine Learning"


def test_index_renders_the_picker_with_this_servers_categories_ticked_first(client: TestClient) -> None:
    soup = BeautifulSoup(client.get("/").text, "html.parser")
    picker = soup.select_one("#cat-picker")
    assert picker is not None and picker.has_attr("hidden")  # reader.js shows it: it keeps the choice
    boxes = picker.select("input[name=category]")
    assert len(boxes) == sum(len(a.categories) for g in category_groups() for a in g.archives)
    ro = picker.select_one('input[value="cs.RO"]')
    assert ro is not None and ro["data-name"] == "Robotics"
    defaults = {box["value"] for box in boxes if box.get("data-default") == "1"}
    assert defaults == {str(row["id"]).removeprefix("cat-") for row in soup.select("tr.category:not(.other)")}
