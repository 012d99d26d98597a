"""parse_feed over every recorded arXiv document, and over everything that is not one."""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import re
from pathlib import Path
from typing import NamedTuple

import pytest

from app.arxiv.parse import MAX_DOCUMENT_BYTES, parse_feed
from app.arxiv.types import Feed
from app.errors import FeedParseError

DATA = Path(__file__).parents[1] / "data"
SAMPLES = Path(__file__).parents[2] / "app" / "samples"
UTC = dt.UTC
RSS2 = "rss/rss2-2024-multicat-csLG+csAI+csCL+statML.xml"
ATOM = "rss/atom-2024-csLG.xml"
RSS1 = "rss/rss1-rdf-legacy-hepex-2018.xml"
OAI = "oai/oai-listrecords-arXiv-cs-2015.xml"
SNAPSHOT = "snapshot/arxiv-metadata-oai-snapshot.head200.jsonl"
RECORDED = "api/arxiv.py-recorded/"


def load(name: str) -> bytes:
    """The bytes arXiv sent. The arxiv.py recordings keep `response.text`, which requests decoded as
    ISO-8859-1 (arXiv sends no charset), so encoding the body back to Latin-1 gives the UTF-8 bytes."""
    path = DATA / name
    if path.suffix == ".json":
        body: str = json.loads(path.read_text(encoding="utf-8"))["body"]
        return body.encode("latin-1")
    return path.read_bytes()


def all_documents() -> list[str]:
    return sorted(
        str(p.relative_to(DATA))
        for p in DATA.rglob("*")
        if p.is_file()
        and p.suffix in {".xml", ".json", ".jsonl"}
        and "feedparser-illformed" not in p.parts  # feedparser's own corpus: test_illformed_corpus.py
        and "venues" not in p.parts  # conference sources, not arXiv documents: tests/venues
    )


class Case(NamedTuple):
    kind: str
    n_entries: int
    total: int | None = None
    arxiv_id: str | None = None
    version: int | None = None
    announce_type: str | None = None
    authors: tuple[str, ...] = ()  # the first entry's first authors (at most three)
    n_authors: int = 0
    categories: tuple[str, ...] = ()
    primary: str | None = None


_AHUJA = ("Mohit Kumar Ahuja", "Arnaud Gotlieb", "Helge Spieker")
_IMMINK = ("Kees A. Schouhamer Immink", "Stan Baggen", "Ferdaous Chaabane")
_ISABELLA = ("A. Isabella", "Emi Retna")
_SE_LG = ("cs.SE", "cs.LG")
# fmt: off
CASES: dict[str, Case] = {
    RSS2: Case("rss2", 4, None, "2609.26811", 1, "new", ("Fabien Polly",), 1, ("cs.LG",), "cs.LG"),
    ATOM: Case("atom", 3, None, "2609.28553", 1, "new",
               ("Quang Minh Nguyen", "Thuy Quynh Nguyen", "Duc Minh Le"), 6, ("cs.LG", "cs.AI"), "cs.LG"),
    RSS1: Case("rss1", 3, None, "1805.08875", 1, "new", ("Christopher Dilks",), 1, ("hep-ex",), "hep-ex"),
    "api/api-2025-cs-100-entries.xml": Case(
        "api", 100, 566020, "2512.13690", 1, None,
        ("Susung Hong", "Chongjian Ge", "Zhifei Zhang"), 4, ("cs.CV", "cs.AI", "cs.GR", "cs.LG"), "cs.CV"),
    "api/api-2025-title-search.xml": Case(
        "api", 1, 1, "2307.00099", 3, None,
        ("Ian L. V. Roque", "Nima Razavi-Ghods", "Steven H. Carey"), 38, ("astro-ph.IM",), "astro-ph.IM"),
    "api/api-legacy-csRO-search.xml": Case(
        "api", 2, 5619, "2510.14968", 1, None, ("Mingxuan Yan", "Yuping Wang", "Zechun Liu"), 4,
        ("cs.RO", "cs.AI", "cs.CV", "cs.LG", "cs.SY", "eess.SY"), "cs.RO"),
    RECORDED + "id_0000.0000_s0_m100_8b51d9633a68.json": Case("api", 0, 0),
    RECORDED + "id_0808.05394_s0_m100_7b0c7d0a7cdd.json": Case("api", 0, 0),
    RECORDED + "id_0808.05394_1707.08567_s0_m100_42e5aa0ec3af.json": Case(
        "api", 1, 1, "1707.08567", 1, None, _IMMINK, 34, ("cs.IT",), "cs.IT"),
    RECORDED + "id_1707.08567_s0_m100_6a1afebfc6a3.json": Case(
        "api", 1, 1, "1707.08567", 1, None, _IMMINK, 34, ("cs.IT",), "cs.IT"),
    RECORDED + "id_1605.08386_s0_m100_199195aa31ad.json": Case(
        "api", 1, 1, "1605.08386", 1, None, ("Caprice Stanley", "Tobias Windisch"), 2,
        ("math.CO", "math.ST"), "math.CO"),
    RECORDED + "id_2104.12255v1_s0_m100_6ae69987ffe1.json": Case(
        "api", 1, 1, "2104.12255", 1, None, ("Quan Thoi Minh Nguyen",), 1, ("cs.CR",), "cs.CR"),
    RECORDED + "id_astro-ph_0601001_s0_m100_3150dca9dc76.json": Case(
        "api", 1, 1, "astro-ph/0601001", 1, None, ("Andrew Gould", "Susan Dorsher", "B. Scott Gaudi"), 4,
        ("astro-ph",), "astro-ph"),
    RECORDED + "id_quant-ph_0201082v1_s0_m100_86989fe779ef.json": Case(
        "api", 1, 1, "quant-ph/0201082", 1, None, ("Stephen Blaha",), 1, ("quant-ph", "cs.PL"), "quant-ph"),
    RECORDED + "q_testing_s0_m100_cfe7536492ca.json": Case(
        "api", 100, 214881, "2202.12139", 1, None, _AHUJA, 3, _SE_LG, "cs.SE"),
    RECORDED + "q_testing_s0_m10_bc5a6c384fe9.json": Case(
        "api", 10, 214881, "2202.12139", 1, None, _AHUJA, 3, _SE_LG, "cs.SE"),
    RECORDED + "q_testing_s0_m15_80c242b59d59.json": Case(
        "api", 15, 214881, "2202.12139", 1, None, _AHUJA, 3, _SE_LG, "cs.SE"),
    RECORDED + "q_testing_s5_m10_c0e94a259d4a.json": Case(
        "api", 10, 214881, "1202.4527", 1, None, _ISABELLA, 2, ("cs.SE",), "cs.SE"),
    RECORDED + "q_testing_s5_m15_bbcf6b23085b.json": Case(
        "api", 15, 214881, "1202.4527", 1, None, _ISABELLA, 2, ("cs.SE",), "cs.SE"),
    RECORDED + "q_testing_s9_m15_0b78d4b4d476.json": Case(
        "api", 15, 214881, "1812.11470", 1, None, ("Yauhen Leanidavich Arnatovich", "Lipo Wang"), 2,
        ("cs.SE",), "cs.SE"),
    RECORDED + "q_testing_s10_m10_34e56e15aaac.json": Case(
        "api", 10, 214881, "2403.16981", 2, None, ("Ankit Pensia", "Varun Jog", "Po-Ling Loh"), 3,
        ("math.ST", "cs.IT", "stat.ML"), "math.ST"),
    RECORDED + "q_testing_s20_m10_348a237fecab.json": Case(
        "api", 10, 214881, "2008.01944", 1, None, ("Jirong Yi", "Myung Cho", "Xiaodong Wu"), 5,
        ("q-bio.QM", "cs.IT", "eess.SP", "stat.AP"), "q-bio.QM"),
    RECORDED + "q_testing_s30_m10_f2e39f0143dc.json": Case(
        "api", 10, 214881, "2101.12036", 1, None,
        ("Miroslav Bures", "Bestoun S. Ahmed", "Vaclav Rechtberger"), 9, ("cs.SE", "cs.NI"), "cs.SE"),
    RECORDED + "q_testing_s40_m10_96dd32eb854c.json": Case(
        "api", 10, 214881, "1704.08347", 1, None,
        ("Jiachun Liao", "Lalitha Sankar", "Vincent Y. F. Tan"), 4, ("cs.IT",), "cs.IT"),
    RECORDED + "q_testing_s50_m10_7f488ab8598c.json": Case(
        "api", 10, 214881, "1709.03221", 1, None, ("Sainyam Galhotra", "Yuriy Brun", "Alexandra Meliou"), 3,
        ("cs.SE", "cs.AI", "cs.CY", "cs.DB", "cs.LG"), "cs.SE"),
    OAI: Case(
        "oai", 46, None, "1101.4388", None, None, ("Guohui Song", "Haizhang Zhang", "Fred J. Hickernell"), 3,
        ("stat.ML", "cs.LG", "math.FA"), "stat.ML"),
    SNAPSHOT: Case(
        "snapshot", 200, None, "0704.0001", 2, None, ("C. Balázs", "E. L. Berger", "P. M. Nadolsky"), 4,
        ("hep-ph",), "hep-ph"),
}
# fmt: on
API_ERRORS = {RECORDED + "id_abc_s0_m100_b79c8dcf6bc3.json": "arXiv API error: incorrect id format for abc"}


def test_every_recorded_document_has_expectations() -> None:
    assert set(all_documents()) == set(CASES) | set(API_ERRORS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_parse_feed_reads_recorded_document(name: str) -> None:
    case = CASES[name]
    feed = parse_feed(load(name))
    assert (feed.kind, len(feed.entries), feed.total_results) == (case.kind, case.n_entries, case.total)
    assert len({e.arxiv_id for e in feed.entries}) == case.n_entries
    if not case.n_entries:
        return
    first = feed.entries[0]
    assert (first.arxiv_id, first.version, first.announce_type) == (
        case.arxiv_id,
        case.version,
        case.announce_type,
    )
    assert first.authors[:3] == case.authors
    assert len(first.authors) == case.n_authors
    assert (first.categories, first.primary_category) == (case.categories, case.primary)


@pytest.mark.parametrize("name", sorted(CASES))
def test_parse_feed_entries_are_clean(name: str) -> None:
    for entry in parse_feed(load(name)).entries:
        assert entry.title
        assert entry.title == " ".join(entry.title.split())
        assert entry.abstract == " ".join(entry.abstract.split())
        assert not entry.abstract.startswith("arXiv:")
        assert all(a and a == a.strip() for a in entry.authors)
        assert entry.primary_category == (entry.categories[0] if entry.categories else None)
        for when in (entry.published_at, entry.updated_at):
            assert when is None or when.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(("name", "message"), sorted(API_ERRORS.items()))
def test_parse_api_error_entry_raises_arxiv_message(name: str, message: str) -> None:
    with pytest.raises(FeedParseError) as caught:
        parse_feed(load(name))
    assert str(caught.value) == message


def test_parse_api_unknown_id_is_an_empty_feed() -> None:
    feed = parse_feed(load(RECORDED + "id_0000.0000_s0_m100_8b51d9633a68.json"))
    assert (feed.kind, feed.entries, feed.total_results) == ("api", (), 0)


# --- daily feeds ------------------------------------------------------------------------------


def test_parse_rss2_marks_cross_lists() -> None:
    feed = parse_feed(load(RSS2))
    assert [e.announce_type for e in feed.entries] == ["new", "new", "cross", "replace"]
    cross = feed.entries[2]
    assert (cross.arxiv_id, cross.version) == ("2205.06398", 2)
    assert cross.categories == ("stat.ME", "stat.AP", "stat.ML")
    assert cross.primary_category == "stat.ME"
    assert cross.doi == "10.1093/bioinformatics/btac431"
    assert cross.authors == ("Pritam Dey", "Zhengwu Zhang", "David B. Dunson")


def test_parse_rss2_reads_day_categories_and_fields() -> None:
    feed = parse_feed(load(RSS2))
    assert feed.announced_on == dt.date(2026, 9, 24)
    assert feed.categories == ("cs.LG", "cs.AI", "cs.CL", "stat.ML")
    assert feed.title == "cs.LG, cs.AI, cs.CL, stat.ML updates on arXiv.org"
    first = feed.entries[0]
    assert first.title == "The Drift Contract: Spectral Updates for Depth-Robust Local Learning"
    assert first.abstract.startswith("Local learning trains each layer with its own auxiliary loss")
    assert first.abstract.endswith("precisely where normalization is absent.")
    assert first.license == "http://creativecommons.org/licenses/by-nc-sa/4.0/"
    assert first.published_at == dt.datetime(2026, 9, 24, 4, 0, tzinfo=UTC)
    assert first.updated_at is None
    assert feed.entries[3].license == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"


def test_parse_atom_reads_journal_reference_and_doi() -> None:
    feed = parse_feed(load(ATOM))
    assert (feed.announced_on, feed.categories) == (dt.date(2026, 9, 25), ("cs.LG",))
    assert [e.announce_type for e in feed.entries] == ["new", "cross", "replace"]
    first, cross, replace = feed.entries
    assert first.journal_ref == (
        "2026 International Conference on Multimedia Analysis and Pattern Recognition (MAPR)"
    )
    assert first.doi == "10.1109/MAPR72750.2026.11685822"
    assert first.abstract.startswith("Drug toxicity prediction is critical")
    assert first.published_at == dt.datetime(2026, 9, 25, 4, 0, tzinfo=UTC)
    assert (cross.arxiv_id, cross.version, cross.doi) == ("2402.10149", 3, "10.1103/PhysRevD.111.032004")
    assert cross.categories == ("hep-ph", "cs.LG", "hep-ex")
    assert (replace.arxiv_id, replace.version, replace.doi) == ("2401.08875", 3, None)
    assert replace.authors == ("Jiaming Tang", "Jingxuan Wen", "Liping Jing")


def test_parse_rss1_reads_type_and_category_from_title() -> None:
    feed = parse_feed(load(RSS1))
    assert (feed.announced_on, feed.categories) == (dt.date(2018, 5, 23), ("hep-ex",))
    assert [e.announce_type for e in feed.entries] == ["new", "cross", "replace"]
    assert [e.title for e in feed.entries] == [
        "Measurement of Transverse Single Spin Asymmetries",
        "Recent Top quark results from the Tevatron",
        "New Perspective on Hybrid Mesons",
    ]
    updated = feed.entries[2]
    assert (updated.arxiv_id, updated.version, updated.categories) == ("1805.06430", 2, ("nucl-th",))
    assert updated.authors == (
        "Shu-Sheng Xu",
        "Zhu-Fang Cui",
        "Lei Chang",
        "Joannis Papavassiliou",
        "Craig D. Roberts",
        "Hong-Shi Zong",
    )


def test_parse_rss1_strips_html_and_keeps_latex() -> None:
    first = parse_feed(load(RSS1)).entries[0]
    assert "<p>" not in first.abstract
    assert first.abstract.startswith("In 2015 the first collisions between polarized protons")
    assert "$\\sqrt{s_{NN}}=200$ GeV" in first.abstract
    assert "$2.6<\\eta<4$" in first.abstract
    assert first.authors == ("Christopher Dilks",)


def _rss2_with_items(*items: str, title: str = "cs.LG updates on arXiv.org") -> bytes:
    body = "".join(f"<item>{item}</item>" for item in items)
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:arxiv="http://arxiv.org/schemas/atom"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>{title}</title><link>http://rss.arxiv.org/rss/cs.LG</link>"
        f"<pubDate>Sat, 26 Sep 2026 00:00:00 -0400</pubDate>{body}</channel></rss>"
    ).encode()


def test_parse_rss2_weekend_feed_has_no_entries() -> None:
    feed = parse_feed(_rss2_with_items())
    assert (feed.kind, feed.entries) == ("rss2", ())
    assert (feed.announced_on, feed.categories) == (dt.date(2026, 9, 26), ("cs.LG",))


def test_parse_atom_weekend_feed_has_no_entries() -> None:
    data = re.sub(rb"<entry>.*</entry>", b"", load(ATOM), flags=re.DOTALL)
    feed = parse_feed(data)
    assert (feed.kind, feed.entries, feed.announced_on, feed.categories) == ("atom", (), None, ("cs.LG",))


def test_parse_rss2_skips_an_item_without_id(caplog: pytest.LogCaptureFixture) -> None:
    good = (
        "<title>T</title><link>https://arxiv.org/abs/2609.26811</link><guid>oai:arXiv.org:2609.26811v1</guid>"
        "<description>arXiv:2609.26811v1 Announce Type: new \nAbstract: A.</description>"
        "<arxiv:announce_type>new</arxiv:announce_type><dc:creator>A One</dc:creator>"
    )
    bad = "<title>Broken</title><guid>oai:arXiv.org:not-an-id</guid><description>x</description>"
    with caplog.at_level(logging.WARNING, logger="app.arxiv.parse"):
        feed = parse_feed(_rss2_with_items(bad, good))
    assert [e.arxiv_id for e in feed.entries] == ["2609.26811"]
    assert "not-an-id" in caplog.text


def test_parse_rss2_with_only_unidentifiable_items_raises() -> None:
    bad = "<title>Broken</title><guid>oai:arXiv.org:not-an-id</guid><description>x</description>"
    with pytest.raises(FeedParseError, match="none of the 2 entries carries an arXiv id"):
        parse_feed(_rss2_with_items(bad, bad))


def test_parse_rss2_keeps_markup_in_title_as_text() -> None:
    item = (
        "<title>&lt;script&gt;alert(1)&lt;/script&gt; A &amp; B</title><guid>oai:arXiv.org:2609.26811v1</guid>"
        "<description>arXiv:2609.26811v1 Announce Type: new Abstract: x &lt;img src=x onerror=y&gt;"
        "</description>"
    )
    entry = parse_feed(_rss2_with_items(item)).entries[0]
    assert entry.title == "<script>alert(1)</script> A & B"
    assert entry.abstract == "x <img src=x onerror=y>"


def test_parse_rss1_drops_html_tags_from_abstract() -> None:
    data = load(RSS1).replace(
        b"&lt;p&gt;We present recent measurements",
        b"&lt;p&gt;We &lt;script&gt;alert(1)&lt;/script&gt; present &amp;lt;b&amp;gt; measurements",
    )
    entry = parse_feed(data).entries[1]
    assert "<script" not in entry.abstract
    assert entry.abstract == "We alert(1) present <b> measurements"


# --- API --------------------------------------------------------------------------------------


def test_parse_api_reads_doi_journal_ref_and_dates() -> None:
    entry = parse_feed(load("api/api-2025-title-search.xml")).entries[0]
    assert entry.doi == "10.1007/s10686-024-09975-3"
    assert entry.journal_ref == "Exp Astron 59, 7 (2025)"
    assert entry.comments == "30 pages, 19 figures"
    assert entry.published_at == dt.datetime(2023, 6, 30, 19, 31, 47, tzinfo=UTC)
    assert entry.updated_at == dt.datetime(2025, 1, 19, 3, 30, 53, tzinfo=UTC)
    assert entry.authors[-1] == "K. Zarb-Adami"


def test_parse_api_legacy_normalises_whitespace() -> None:
    entry = parse_feed(load("api/api-legacy-csRO-search.xml")).entries[0]
    assert entry.title == (
        "RDD: Retrieval-Based Demonstration Decomposer for Planner Alignment in Long-Horizon Tasks"
    )
    assert entry.comments == (
        "39th Conference on Neural Information Processing Systems (NeurIPS 2025); "
        "Project Website: rdd-neurips.github.io"
    )
    assert entry.abstract.startswith("To tackle long-horizon tasks, recent hierarchical")


def test_parse_api_reads_utf8_names() -> None:
    second = parse_feed(load(RECORDED + "q_testing_s0_m10_bc5a6c384fe9.json")).entries[1]
    assert second.authors[0] == "Aurora Ramírez"


def test_parse_api_old_style_id_and_journal_ref() -> None:
    entry = parse_feed(load(RECORDED + "id_astro-ph_0601001_s0_m100_3150dca9dc76.json")).entries[0]
    assert (entry.arxiv_id, entry.version, entry.journal_ref) == (
        "astro-ph/0601001",
        1,
        "ActaAstron.56:1-50,2006",
    )


# --- OAI-PMH ----------------------------------------------------------------------------------


def test_parse_oai_reads_arxiv_metadata() -> None:
    feed = parse_feed(load(OAI))
    assert feed.resumption_token is None
    first, second, third = feed.entries[:3]
    assert first.doi == "10.1016/j.acha.2012.03.009"
    assert first.journal_ref == "Appl. Comput. Harmon. Anal., 34:96-116, 2013"
    assert first.comments == "28 pages, an extra section was added"
    assert first.license == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"
    assert first.published_at == dt.datetime(2011, 1, 23, tzinfo=UTC)
    assert first.updated_at == dt.datetime(2012, 3, 28, tzinfo=UTC)
    assert second.authors == ("Tobias Brunsch", "Heiko Röglin")
    assert third.authors == ("Emilie Morvant", "Amaury Habrard", "Stéphane Ayache")
    assert third.updated_at is None
    assert (
        feed.entries[-1].title
        == "Time-Varying Input and State Delay Compensation for Uncertain Nonlinear Systems"
    )


def test_parse_oai_reads_msc_and_acm_classes() -> None:
    classes = {e.arxiv_id: (e.msc_class, e.acm_class) for e in parse_feed(load(OAI)).entries}
    assert classes["1501.03549"] == ("52C25, 74N10", "I.3.5")
    assert classes["1501.03602"] == ("68R15", None)
    assert classes["1501.03724"] == (None, "F.2.2; I.3.5; I.5.3")
    assert classes["1101.4388"] == (None, None)
    assert sum(1 for pair in classes.values() if pair != (None, None)) == 5


def _oai(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
        f'<responseDate>2026-01-01T00:00:00Z</responseDate><request verb="ListRecords">x</request>{body}'
        "</OAI-PMH>"
    ).encode()


def test_parse_oai_sets_resumption_token() -> None:
    token = (
        b'<resumptionToken cursor="0" completeListSize="9000">6241771|1001</resumptionToken></ListRecords>'
    )
    feed = parse_feed(load(OAI).replace(b"</ListRecords>", token))
    assert (feed.resumption_token, feed.total_results, len(feed.entries)) == ("6241771|1001", 9000, 46)


def test_parse_oai_empty_resumption_token_means_done() -> None:
    token = b'<resumptionToken cursor="1000" completeListSize="1046"/></ListRecords>'
    feed = parse_feed(load(OAI).replace(b"</ListRecords>", token))
    assert (feed.resumption_token, feed.total_results) == (None, 1046)


def test_parse_oai_no_records_match_is_empty() -> None:
    feed = parse_feed(_oai('<error code="noRecordsMatch">No records</error>'))
    assert (feed.kind, feed.entries) == ("oai", ())


def test_parse_oai_skips_deleted_records() -> None:
    deleted = (
        '<record><header status="deleted"><identifier>oai:arXiv.org:1101.4388</identifier></header></record>'
    )
    feed = parse_feed(_oai(f"<ListRecords>{deleted}</ListRecords>"))
    assert feed.entries == ()


def test_parse_oai_get_record() -> None:
    record = re.search(rb"<record>.*?</record>", load(OAI), re.DOTALL)
    assert record is not None
    feed = parse_feed(_oai("<GetRecord>" + record.group(0).decode() + "</GetRecord>"))
    assert [e.arxiv_id for e in feed.entries] == ["1101.4388"]


# --- ill-formed input -------------------------------------------------------------------------

# "Billion laughs": ten levels of ten-fold entity references, 3 GB once expanded.
_LOLS = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
_BOMB = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n' + "\n".join(_LOLS) + "\n]>\n"
    '<rss version="2.0"><channel><title>&lol9;</title></channel></rss>'
).encode()
_GENERIC_RSS = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>My blog</title><link>https://blog.example</link>'
    b"<item><title>Hello</title><link>https://blog.example/hello</link><guid>hello-1</guid></item>"
    b"</channel></rss>"
)
ILL_FORMED: dict[str, bytes] = {
    "empty": b"",
    "whitespace": b"  \n\t ",
    "html error page": b"<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head><body>Busy</body>",
    "html without doctype": b"<html><body><h1>Not Found</h1></body></html>",
    "xhtml page": b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body/></html>',
    "random bytes": random.Random(7).randbytes(4096),
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "plain text": b"Rate exceeded.",
    "json object": b'{"foo": 1}',
    "json list": b"[1, 2, 3]",
    "json garbage": b"{not json at all",
    "json string": b'"a string"',
    "deep json": b"[" * 100_000 + b"]" * 100_000,
    "non-arxiv rss": _GENERIC_RSS,
    "non-arxiv empty rss": b'<rss version="2.0"><channel><title>Blog</title></channel></rss>',
    "non-arxiv atom": b'<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:x</id><title>Blog</title></feed>',
    "rss without channel": b'<rss version="2.0"></rss>',
    "unknown xml": b"<?xml version='1.0'?><root><child/></root>",
    "billion laughs": _BOMB,
    "billion laughs utf-16": _BOMB.decode().replace('"1.0"', '"1.0" encoding="UTF-16"').encode("utf-16"),
    "external entity": (
        b'<!DOCTYPE r SYSTEM "http://example.org/x.dtd">'
        b'<rss version="2.0"><channel><title>&ext;</title></channel></rss>'
    ),
    "oai error": (
        b'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
        b'<error code="badArgument">bad from</error></OAI-PMH>'
    ),
    "oai dublin core": _oai(
        "<ListRecords><record><header><identifier>x</identifier></header><metadata>"
        '<dc xmlns="http://www.openarchives.org/OAI/2.0/oai_dc/"/></metadata></record></ListRecords>'
    ),
}


def _assert_one_line_error(data: bytes) -> str:
    with pytest.raises(FeedParseError) as caught:
        parse_feed(data)
    message = str(caught.value)
    assert message
    assert "\n" not in message
    assert len(message) <= 300
    return message


@pytest.mark.parametrize("name", sorted(ILL_FORMED))
def test_parse_feed_rejects_ill_formed_input(name: str) -> None:
    _assert_one_line_error(ILL_FORMED[name])


@pytest.mark.parametrize("name", all_documents())
def test_parse_feed_rejects_document_cut_in_half(name: str) -> None:
    data = load(name)
    _assert_one_line_error(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty", "empty document"),
        ("html error page", "an HTML page, not a feed (title: '503 Service Unavailable')"),
        ("billion laughs", "entity"),
        ("non-arxiv rss", "none of the 1 entries carries an arXiv id"),
        ("non-arxiv empty rss", "not an arXiv feed"),
        ("random bytes", "not a feed"),
        ("json object", "not an arXiv snapshot record"),
        ("oai error", "OAI-PMH error badArgument: bad from"),
        ("oai dublin core", "metadataPrefix=arXiv"),
        ("unknown xml", "unknown document kind: root element <root>"),
    ],
)
def test_parse_feed_error_says_why(name: str, reason: str) -> None:
    assert reason in _assert_one_line_error(ILL_FORMED[name])


@pytest.mark.parametrize("size", [MAX_DOCUMENT_BYTES + 1, 60_000_000])
def test_parse_feed_refuses_oversized_document(size: int) -> None:
    data = b"<rss>" + b"x" * (size - 5)
    message = _assert_one_line_error(data)
    assert message.startswith("document too large")


def test_parse_feed_refuses_non_bytes() -> None:
    with pytest.raises(FeedParseError, match="expected bytes"):
        parse_feed("<rss/>")  # type: ignore[arg-type]


def test_parse_feed_accepts_utf8_bom_and_leading_space() -> None:
    feed = parse_feed(b"\xef\xbb\xbf\n  " + load(RSS2))
    assert len(feed.entries) == 4


# --- scale and samples ------------------------------------------------------------------------


def _daily_feed(n: int) -> bytes:
    data = load(RSS2)
    items = re.findall(rb"<item>.*?</item>", data, re.DOTALL)
    head, tail = data.split(b"<item>", 1)[0], data.rsplit(b"</item>", 1)[1]
    body = [re.sub(rb"\d{4}\.\d{5}", b"2609.%05d" % (30000 + i), items[i % 4]) for i in range(n)]
    return head + b"\n".join(body) + tail


def test_parse_rss2_full_day() -> None:
    # How fast: benchmarks/ingest.py. Here only that a 2,500-entry day parses whole and right.
    feed = parse_feed(_daily_feed(2500))
    assert len(feed.entries) == 2500
    assert len({e.arxiv_id for e in feed.entries}) == 2500
    assert feed.entries[2].announce_type == "cross"


@pytest.mark.parametrize(
    ("name", "kind", "count"),
    [
        ("arxiv-rss2-2026-09-24-csLG+csAI+csCL+statML.xml", "rss2", 4),
        ("arxiv-atom-2026-09-25-csLG.xml", "atom", 3),
        ("arxiv-rss1-legacy-2018-05-23-hepex.xml", "rss1", 3),
        ("arxiv-api-2025-12-cs-100-entries.xml", "api", 100),
    ],
)
def test_parse_bundled_samples(name: str, kind: str, count: int) -> None:
    feed: Feed = parse_feed((SAMPLES / name).read_bytes())
    assert (feed.kind, len(feed.entries)) == (kind, count)
