"""The path convertor of the catch-all page routes (/arxiv/{spec}, /venue/{spec}).

/arxiv/kimi, /arxiv/star, /venue/kimi and /venue/star answer POSTs only. Matched by a catch-all GET
as well, a GET of them (RSSHub builds one) was a 422 "no category 'kimi'" or a 405 whose Allow named
the catch-all's GET; unmatched, the router's own 405 names POST alone.
"""

from __future__ import annotations

from starlette.convertors import PathConvertor, register_url_convertor

PAGE_SPEC = "page_spec"  # "/arxiv/{spec:" + PAGE_SPEC + "}"


class PageSpec(PathConvertor):
    regex = r"(?!(?:kimi|star)$).*"


register_url_convertor(PAGE_SPEC, PageSpec())
