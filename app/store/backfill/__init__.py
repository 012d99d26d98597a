"""Bulk imports of arXiv's history: the Kaggle / Cornell snapshot file and OAI-PMH harvests.

Both go in batches, each committed together with where the import stands (`BackfillState`), so a
rerun of the same command continues after the last committed batch and nothing is stored twice.
"""

from app.store.backfill.oai import OaiOptions, harvest_oai
from app.store.backfill.progress import BackfillReport, BatchDone, RunMeter
from app.store.backfill.snapshot import SnapshotOptions, import_snapshot

__all__ = [
    "BackfillReport",
    "BatchDone",
    "OaiOptions",
    "RunMeter",
    "SnapshotOptions",
    "harvest_oai",
    "import_snapshot",
]
