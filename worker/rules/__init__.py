"""Fraud rules as data (``rules/*.yaml``), evaluated vectorized over a batch, with reasons."""

from worker.rules.engine import RuleSet, RulesResult, load_rules
from worker.rules.spec import RulesError

__all__ = ["RuleSet", "RulesError", "RulesResult", "load_rules"]
