"""Every recorded venue document parses to the papers it holds; every damaged one raises VenueParseError."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from app.errors import VenueParseError
from app.venues.acl import parse_anthology_xml
from app.venues.cvf import parse_cvf_listing
from app.venues.documents import parse_venue_document, parse_venue_file
from app.venues.openreview import group_from_venue_label, parse_notes_v1, parse_notes_v2
from app.venues.pmlr import parse_pmlr_bibtex, parse_pmlr_posts

DATA = Path(__file__).resolve().parents[1] / "data" / "venues"
COLT = DATA / "pmlr" / "v247-colt2024"

# file, venue/year given (None: from the document or its name), kind, papers, groups,
# (index, paper id, title start, first author, pdf) read from the file itself.
CASES = [
    (
        "acl-anthology/2023.wnu.xml",
        None,
        "acl-xml",
        13,
        {None: 13},
        (
            2,
            "2023.wnu-1.4@ACL",
            "Evaluation Metrics for Depth and Flow",
            None,
            "https://aclanthology.org/2023.wnu-1.4.pdf",
        ),
    ),
    (
        "acl-anthology/2024.acl.first150.xml",
        ("ACL", 2024),
        "acl-xml",
        150,
        {
            "Long Papers": 120,
            "Short Papers": 15,
            "System Demonstrations": 5,
            "Student Research Workshop": 5,
            "Tutorial Abstracts": 5,
        },
        (
            0,
            "2024.acl-long.1@ACL",
            "Quantized Side Tuning",
            "Zhengxin Zhang",
            "https://aclanthology.org/2024.acl-long.1.pdf",
        ),
    ),
    (
        "openreview/derived/papercopilot-colm2024.first200.json",
        None,
        "papercopilot",
        200,
        {"Poster": 200},
        (0, "0UK8c2kg7c@OpenReview", "InstructAV", "Yujia Hu", "https://openreview.net/pdf?id=0UK8c2kg7c"),
    ),
    (
        "openreview/derived/glimpse-ICLR2024.sample201.json",
        None,
        "glimpse",
        201,
        {"Oral": 67, "Spotlight": 67, "Poster": 67},
        (
            0,
            "KS8mIvetg2@OpenReview",
            "Proving Test Set Contamination",
            None,
            "https://openreview.net/pdf?id=KS8mIvetg2",
        ),
    ),
    (
        "cvf/cvpr2020-openaccess-listing.complete93.html",
        ("CVPR", 2020),
        "cvf-listing",
        93,
        {None: 93},
        (
            0,
            "Wu_Unsupervised_Learning_of_Probably_Symmetric_Deformable_3D_Objects_From_Images_CVPR_2020_paper@CVF",
            "Unsupervised Learning of Probably Symmetric",
            "Shangzhe Wu",
            "https://openaccess.thecvf.com/content_CVPR_2020/papers/"
            "Wu_Unsupervised_Learning_of_Probably_Symmetric_Deformable_3D_Objects_From_Images_CVPR_2020_paper.pdf",
        ),
    ),
    (
        "cvf/papercopilot-cvpr2019.first200.json",
        None,
        "papercopilot",
        200,
        {"Poster": 146, "Oral": 54},
        (
            0,
            "Gandelsman_Double-DIP_Unsupervised_Image_Decomposition_via_Coupled_Deep-Image-Priors_CVPR_2019_paper@CVF",
            '"Double-DIP"',
            "Yosef Gandelsman",
            None,
        ),
    ),
    (
        "cvf/glimpse-CVPR2022.first150.json",
        None,
        "glimpse",
        150,
        {None: 150},
        (0, None, "Dual Cross-Attention Learning", "Haowei Zhu", None),
    ),
    (
        "neurips/papercopilot-nips2018.first200.json",
        None,
        "papercopilot",
        200,
        {"Poster": 160, "Spotlight": 36, "Oral": 4},
        (
            0,
            "8b16ebc056e613024c057be590b542eb@2018@NeurIPS",
            "$\\ell_1$-regression",
            "Lijun Zhang",
            "https://papers.nips.cc/paper_files/paper/2018/file/8b16ebc056e613024c057be590b542eb-Paper.pdf",
        ),
    ),
    (
        "neurips/glimpse-NeurIPS2021.first150.json",
        None,
        "glimpse",
        150,
        {None: 150},
        (
            0,
            "000c076c390a4c357313fca29e390ece@2021@NeurIPS",
            "Beyond Value-Function Gaps",
            "Christoph Dann",
            "https://papers.nips.cc/paper_files/paper/2021/file/000c076c390a4c357313fca29e390ece-Paper.pdf",
        ),
    ),
    (
        "pmlr/v247-colt2024/colt2024.bib",
        ("COLT", 2024),
        "pmlr-bibtex",
        170,
        {"Original Papers": 160, "Open Problems": 9, "Preface": 1},
        (1, "addanki24a@v247@PMLR", "Limits of Approximating", "Raghavendra Addanki", None),
    ),
    (
        "pmlr/v202-icml2023/_posts/2023-07-03-aamand23a.md",
        ("ICML", 2023),
        "pmlr-posts",
        1,
        {None: 1},
        (0, "aamand23a@v202@PMLR", "Data Structures for Density", "Anders Aamand", None),
    ),
]


@pytest.mark.parametrize(
    ("path", "edition", "kind", "count", "groups", "spot"), CASES, ids=[c[0] for c in CASES]
)
def test_parse_fixture_counts_groups_and_spot_checked_paper(
    path: str,
    edition: tuple[str, int] | None,
    kind: str,
    count: int,
    groups: dict[str | None, int],
    spot: tuple[int, str | None, str, str | None, str | None],
) -> None:
    venue, year = edition or (None, None)
    document = parse_venue_file(DATA / path, venue=venue, year=year)
    assert document.kind == kind
    assert len(document.papers) == count
    assert Counter(paper.group for paper in document.papers) == groups
    assert len({paper.paper_id for paper in document.papers}) == count  # ids are unique
    index, paper_id, title_start, first_author, pdf = spot
    paper = document.papers[index]
    if paper_id is not None:
        assert paper.paper_id == paper_id
    assert paper.title.startswith(title_start)
    if first_author is not None:
        assert paper.authors[0] == first_author
    if pdf is not None:
        assert paper.pdf_url == pdf
    for each in document.papers:
        assert each.title and each.url.startswith("https://") and each.pdf_url
        assert (
            each.paper_id
            == f"{each.source_id}@{ {'openreview': 'OpenReview', 'acl': 'ACL', 'pmlr': 'PMLR', 'cvf': 'CVF', 'neurips': 'NeurIPS'}[each.source] }"
        )


def test_parse_acl_keeps_id_gaps_tex_math_and_fixed_case() -> None:
    wnu = parse_anthology_xml((DATA / "acl-anthology/2023.wnu.xml").read_bytes())
    assert [p.source_id.rsplit(".", 1)[1] for p in wnu.papers] == [
        "1", "2", "4", "5", "6", "7", "8", "12", "13", "14", "15", "16", "19",
    ]  # fmt: skip
    assert wnu.papers[0].doi == "10.18653/v1/2023.wnu-1.1"
    acl = parse_anthology_xml((DATA / "acl-anthology/2024.acl.first150.xml").read_bytes(), venue="ACL")
    first = acl.papers[0]
    assert "up to 3$\\times$ while" in first.abstract  # <tex-math>\times</tex-math> -> $\times$
    assert "<" not in first.abstract and "tex-math" not in first.abstract
    assert first.subject == "ACL.2024 - Long Papers"
    assert first.url == "https://aclanthology.org/2024.acl-long.1/"
    assert all("fixed-case" not in p.title and "<" not in p.title for p in acl.papers)
    only_short = parse_anthology_xml(
        (DATA / "acl-anthology/2024.acl.first150.xml").read_bytes(), venue="ACL", volumes={"2024.acl-short"}
    )
    assert len(only_short.papers) == 15
    assert {p.group for p in only_short.papers} == {"Short Papers"}


def test_parse_pmlr_bibtex_gives_the_ids_and_fields_of_the_posts() -> None:
    """PMLR generates the posts from the BibTeX: the same ids, authors and sections come out of both."""
    from_bib = {
        p.paper_id: p for p in parse_pmlr_bibtex((COLT / "colt2024.bib").read_bytes(), venue="COLT").papers
    }
    posts = sorted((COLT / "_posts").glob("*.md"))
    from_posts = parse_pmlr_posts([(p.name, p.read_bytes()) for p in posts], venue="COLT").papers
    assert len(from_posts) == 50
    for post in from_posts:
        bib = from_bib[post.paper_id]
        assert (bib.authors, bib.group, bib.year, bib.pdf_url, bib.url) == (
            post.authors, post.group, post.year, post.pdf_url, post.url,
        )  # fmt: skip
    assert from_bib["aden-ali24a@v247@PMLR"].authors[1] == "Mikael Møller Høandgsgaard"  # M\o{}ller
    preface = from_bib["agrawal24a@v247@PMLR"]
    assert preface.abstract == "" and preface.group == "Preface"
    addanki = from_bib["addanki24a@v247@PMLR"]
    assert "$\\mathbf{a}, \\mathbf{b}$" in addanki.abstract  # math kept for KaTeX
    assert "\\emph" not in addanki.abstract and "called variability that" in addanki.abstract


def test_parse_openreview_v2_reads_wrapped_values_groups_and_count() -> None:
    page = {
        "count": 3,
        "notes": [
            _v2_note("abc123", "A Paper", "ICLR 2024 oral", keywords=["graphs", "proofs"]),
            _v2_note("def456", "Another Paper", "ICLR 2024 poster"),
            _v2_note("ghi789", "Rejected One", "Submitted to ICLR 2024"),
        ],
    }
    document = parse_notes_v2(json.dumps(page).encode(), venue="ICLR", year=2024)
    assert document.total == 3
    assert [(p.paper_id, p.group) for p in document.papers] == [
        ("abc123@OpenReview", "Oral"),
        ("def456@OpenReview", "Poster"),
    ]
    assert document.papers[0].keywords == ("graphs", "proofs")
    assert document.papers[0].url == "https://openreview.net/forum?id=abc123"


def test_openreview_group_labels() -> None:
    assert group_from_venue_label("ICLR 2024 spotlight", venue="ICLR", year=2024) == "Spotlight"
    assert group_from_venue_label("NeurIPS 2024 poster", venue="NeurIPS", year=2024) == "Poster"
    assert group_from_venue_label("COLM 2024", venue="COLM", year=2024) is None
    assert group_from_venue_label("NeurIPS 2022 Accept", venue="NeurIPS", year=2022) is None
    assert group_from_venue_label("ICLR 2021 Accept (Oral)", venue="ICLR", year=2021) == "Oral"


def test_parse_openreview_v1_drops_rejected_decisions() -> None:
    crawl = json.loads((DATA / "openreview/api-v1/erikbird-example_output.json").read_bytes())
    submission = crawl[0]["submissions"][0]
    for reply in submission["notes"]:
        if reply["invitation"].endswith("Decision"):
            reply["content"]["decision"] = "Reject"
    document = parse_notes_v1(json.dumps(crawl).encode(), venue="NeurIPS", year=2018)
    assert [p.paper_id for p in document.papers] == ["r1eLk2mKiX@OpenReview"]


def _v2_note(forum: str, title: str, venue: str, keywords: list[str] | None = None) -> dict[str, object]:
    content: dict[str, object] = {
        "title": {"value": title},
        "authors": {"value": ["Ada Lovelace", "Alan Turing"]},
        "abstract": {"value": "We  study $x^2$.\n"},
        "venue": {"value": venue},
        "venueid": {"value": "ICLR.cc/2024/Conference"},
        "pdf": {"value": "/pdf/0123.pdf"},
    }
    if keywords:
        content["keywords"] = {"value": keywords}
    return {"id": forum, "forum": forum, "number": 1, "content": content}


# Damaged documents: each must raise the one error, whatever the parser.
def _truncated(path: str, fraction: float = 0.5) -> bytes:
    data = (DATA / path).read_bytes()
    return data[: int(len(data) * fraction)]


HOSTILE = [
    ("truncated ACL XML", _truncated("acl-anthology/2023.wnu.xml"), "2023.wnu.xml", None),
    (
        "XML bomb",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><collection id="x">&a;</collection>',
        "bomb.xml",
        None,
    ),
    ("XML of another kind", b"<?xml version='1.0'?><rss><channel/></rss>", "feed.xml", None),
    (
        "truncated OpenReview v1 dump",
        _truncated("openreview/api-v1/erikbird-example_output.json"),
        "dump.json",
        ("NeurIPS", 2018),
    ),
    (
        "truncated Paper Copilot list",
        _truncated("cvf/papercopilot-cvpr2019.first200.json"),
        "cvpr2019.json",
        None,
    ),
    (
        "truncated glimpse object",
        _truncated("neurips/glimpse-NeurIPS2021.first150.json"),
        "NeurIPS2021.json",
        None,
    ),
    ("notes that are not a list", b'{"notes": {"id": 1}}', "notes.json", ("ICLR", 2024)),
    (
        "a v2 note without a title",
        json.dumps({"notes": [{"id": "x", "forum": "x", "content": {"abstract": {"value": "a"}}}]}).encode(),
        "notes.json",
        ("ICLR", 2024),
    ),
    (
        "a record of no known source",
        json.dumps([{"title": "T", "site": "https://example.org/p"}]).encode(),
        "colm2024.json",
        None,
    ),
    (
        "the truncated CVF page",
        (DATA / "cvf/cvpr2020-openaccess-listing.saved.html").read_bytes(),
        "CVPR2020.html",
        None,
    ),
    (
        "a CVF page cut between entries",
        _truncated("cvf/cvpr2020-openaccess-listing.complete93.html", 0.7),
        "CVPR2020.html",
        None,
    ),
    ("truncated PMLR BibTeX", _truncated("pmlr/v247-colt2024/colt2024.bib"), "colt2024.bib", ("COLT", 2024)),
    (
        "a PMLR post cut in its front matter",
        _truncated("pmlr/v247-colt2024/_posts/2024-06-30-addanki24a.md", 0.6),
        "addanki24a.md",
        ("COLT", 2024),
    ),
    ("a post with YAML that is not a mapping", b"---\n- a\n- b\n---\n", "post.md", ("COLT", 2024)),
    ("binary junk", b"\x00\x01\x02garbage", "junk.bin", ("ICLR", 2024)),
    ("a JSON file whose name tells no edition", b"[]", "list.json", None),
]


@pytest.mark.parametrize(("data", "name", "edition"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_parse_damaged_document_raises_venue_parse_error(
    data: bytes, name: str, edition: tuple[str, int] | None
) -> None:
    venue, year = edition or (None, None)
    with pytest.raises(VenueParseError) as caught:
        parse_venue_document(data, name=name, venue=venue, year=year)
    assert name in str(caught.value) or "document" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_parse_truncated_cvf_listing_names_the_cut_entry() -> None:
    with pytest.raises(VenueParseError, match=r"truncated CVF listing: it stops inside entry 94"):
        parse_cvf_listing(
            (DATA / "cvf/cvpr2020-openaccess-listing.saved.html").read_bytes(), venue="CVPR", year=2020
        )


def test_a_paper_copilot_record_without_author_takes_author_site() -> None:
    """One NeurIPS 2018 record had an empty `author`, its names only in `author_site`: stored authorless."""
    papers = parse_venue_file(DATA / "neurips" / "papercopilot-nips2018.first200.json").papers
    [paper] = [p for p in papers if p.title.startswith("A loss framework for calibrated anomaly detection")]
    assert paper.authors == ("Aditya Menon", "Robert Williamson")
    assert all(p.authors for p in papers)


def test_a_crawl_of_a_workshops_notes_is_not_filed_under_its_conference() -> None:
    """Its notes carry `NIPS.cc` as their venue: they were stored as NeurIPS.2018's papers #1 and #2.
    (parse_notes_v1, which the edition's own harvest calls, reads them: tests above.)"""
    with pytest.raises(VenueParseError, match=r"a workshop's notes \(NIPS.cc/2018/Workshop/CDNNRIA/"):
        parse_venue_file(DATA / "openreview/api-v1/erikbird-example_output.json")
