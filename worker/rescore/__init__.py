"""``fraud-worker rescore``: degraded answers scored again by the primary once it is back.

During an outage the fallback, the rules or the safe default answer, and the answers no
human needs to see now are kept apart in ``topics.degraded``. This consumer reads them in its
own group, scores each again with the primary (read-only: the feature store and the cache
are never written), and sends a re-score that crosses the review threshold to the review
topic as a result that *supersedes* the degraded one. While the primary is not back, the
batch waits, paused, and is tried again: nothing is skipped and nothing is committed.
"""

from worker.rescore.loop import RescoreWorker
from worker.rescore.metrics import RescoreMetrics
from worker.rescore.scoring import NotBack, Rescored, Rescorer

__all__ = [
    "NotBack",
    "RescoreMetrics",
    "RescoreWorker",
    "Rescored",
    "Rescorer",
]
