"""Conference venues (OpenReview, ACL Anthology, PMLR, CVF, NeurIPS): fetch apart from pure parse.

`types` (VenuePaper), one parser module per source, `documents` (any file, offline), `fetch` (the polite
client), `harvest` (an edition fetched page by page) and `catalog` (`ICLR.2024` -> source parameters).
"""
