"""app/errors.py: one tree, drawn in its docstring, each kind mapped to an HTTP status once."""

from __future__ import annotations

import re

from app import errors
from app.errors import CoolPapersError, ErrorKind, FetchError, LLMUnavailableError, SummaryLimitError
from app.main import HTTP_STATUS


def _subclasses(cls: type[CoolPapersError]) -> set[type[CoolPapersError]]:
    found = set(cls.__subclasses__())
    return found.union(*(_subclasses(sub) for sub in found))


def _public_errors() -> set[type[CoolPapersError]]:
    public = {c for c in _subclasses(CoolPapersError) if c.__module__ == "app.errors"}
    return public | {CoolPapersError}


def test_every_kind_has_an_http_status() -> None:
    assert set(HTTP_STATUS) == set(ErrorKind)


def test_the_docstring_draws_every_error_with_its_kind() -> None:
    drawn = {}
    for line in (errors.__doc__ or "").splitlines():
        match = re.match(r"^[\s│├└─]*([A-Z]\w+Error)\s*([A-Z_]+)?\s*$", line)
        if match:
            drawn[match[1]] = match[2]
    assert set(drawn) == {c.__name__ for c in _public_errors()}
    for cls in _public_errors():
        own = cls.__dict__.get("kind")  # drawn only where the class sets it (else inherited)
        assert drawn[cls.__name__] == (own.name if own else None), cls.__name__


def test_a_kind_is_inherited_and_retry_after_kept() -> None:
    assert SummaryLimitError("spent", retry_after=30).retry_after == 30
    assert HTTP_STATUS[SummaryLimitError("spent", retry_after=30).kind] == 429
    assert HTTP_STATUS[FetchError("down", status=502).kind] == 503
    assert HTTP_STATUS[LLMUnavailableError("slow").kind] == 500  # stored as a failed summary, never HTTP
