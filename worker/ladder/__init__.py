"""The scoring ladder: five levels behind one interface, tried in order, row by row.

``score_batch`` is a plain function of a batch and its dependencies — no Kafka — so it can be
tested, benchmarked and run on a GPU box alone.
"""

from worker.ladder.core import Ladder, score_batch
from worker.ladder.types import Decision, ScoredBatch, Source

__all__ = ["Decision", "Ladder", "ScoredBatch", "Source", "score_batch"]
