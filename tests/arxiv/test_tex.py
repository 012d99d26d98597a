"""decode_tex_accents: TeX accents to Unicode, math and unknown commands untouched."""

from __future__ import annotations

import pytest

from app.arxiv.tex import decode_tex_accents


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"C. Bal\'azs", "C. Balázs"),
        (r"P\'eter E. Frenkel", "Péter E. Frenkel"),
        (r"R. Tom\`as", "R. Tomàs"),
        (r"Gr\"obner", "Gröbner"),
        (r"{\"o}", "ö"),
        (r"\"{o}", "ö"),
        (r"{\"{o}}", "ö"),
        (r"\v{c}", "č"),
        (r"\v c", "č"),
        (r"\c{c}", "ç"),
        (r"\~n", "ñ"),
        (r"\^o", "ô"),
        (r"\=a", "ā"),
        (r"\.z", "ż"),
        (r"Erd\H{o}s", "Erdős"),
        (r"\k{a}", "ą"),
        (r"\r{u}", "ů"),
        (r"\u{g}", "ğ"),
        (r"\'\i", "í"),
        (r"\'{\i}", "í"),
        (r"{\'\i}", "í"),
        (r"Stra\ss e", "Straße"),
        (r"Gro{\ss}e", "Große"),
        (r"Mikkel {\O}bro", "Mikkel Øbro"),
        (r"\o", "ø"),
        (r"\aa", "å"),
        (r"\AA ngstr\"om", "Ångström"),
        (r"\l{}ukasz", "łukasz"),
        (r"Rastislav \v{S}r\'amek, Bro\v{n}a Brejov\'a", "Rastislav Šrámek, Broňa Brejová"),
        (r"Tom\'a\v{s} Vina\v{r}", "Tomáš Vinař"),
    ],
)
def test_decode_tex_accents_decodes(text: str, expected: str) -> None:
    assert decode_tex_accents(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "plain text, no commands",
        r"$\"o$ stays math",
        r"$$\'a + \v{c}$$",
        r"from dyadic $\Lambda_{\alpha}$ to $\Lambda_{\alpha}$",
        r"\emph{word} \cite{x} \ldots \loose \ssa \oslash",
        r"line\\break",
        r"a\\\"o",
        r"\~{} tilde",
        "",
    ],
)
def test_decode_tex_accents_leaves_math_and_unknown_commands(text: str) -> None:
    assert decode_tex_accents(text) == text


def test_decode_tex_accents_decodes_around_math() -> None:
    assert decode_tex_accents(r"Koll\'ar's $\'x$ theorem on \"o") == r"Kollár's $\'x$ theorem on ö"


def test_decode_tex_accents_escaped_dollar_is_not_math() -> None:
    assert decode_tex_accents(r"\$5 for \"a \$") == r"\$5 for ä \$"


def test_decode_tex_accents_is_idempotent() -> None:
    once = decode_tex_accents(r"Bal\'azs $\'x$ {\o}")
    assert decode_tex_accents(once) == once
