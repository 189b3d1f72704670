"""Tune rule weights on training weeks: a rule's weight becomes the share of fraud among the
transactions it matches — its precision, the probability of fraud it stands for on its own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from numpy.typing import NDArray

from worker.events import EventBatch
from worker.rules.engine import RuleSet

HEADER = """\
# Fraud rules: the fourth level of the scoring ladder, used when both models fail.
# Each rule: a condition over event fields, a weight (the probability of fraud the rule
# alone stands for) and a reason code that travels with the result to the review topic.
# Matched rules combine by noisy-OR: score = 1 - prod(1 - weight).
# A decisive rule (`decides: review` or `decides: block`) also raises the decision of every
# event it matches to at least that, whichever level scored it (the primary included); its
# reason then reaches the review item as `rule:<REASON>`.
# Weights are tuned by `fraud-worker train` (each rule's precision on the training weeks);
# conditions and thresholds are edited by hand.
"""


def tune_weights(rules: RuleSet, batch: EventBatch, is_fraud: NDArray[np.bool_]) -> RuleSet:
    matched = rules.match(batch)
    hits = matched.sum(axis=0)
    frauds = (matched & is_fraud[:, None]).sum(axis=0)
    precision = np.where(hits > 0, frauds / np.maximum(hits, 1), rules.weights)
    return rules.with_weights(np.round(np.clip(precision, 0.001, 0.999), 3))


def write_rules(rules: RuleSet, path: Path) -> None:
    body = {
        "version": 1,
        # exclude_none: a rule that decides nothing is written without ``decides``, as by hand
        "rules": [rule.model_dump(by_alias=True, exclude_none=True) for rule in rules.rules],
    }
    text = yaml.safe_dump(body, sort_keys=False, default_flow_style=None, width=100)
    path.write_text(HEADER + text)
