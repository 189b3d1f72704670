"""Rules as data: validation names file, rule and problem; evaluation is vectorized."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.factories import make_batch
from worker.rules import RulesError, load_rules

RULES_FILE = Path(__file__).resolve().parents[2] / "rules" / "rules.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


def test_the_shipped_rules_load_with_the_four_classic_rules() -> None:
    rules = load_rules(RULES_FILE)
    names = {rule.name for rule in rules.rules}
    assert {"high_amount", "new_account", "high_risk_category"} <= names
    assert "international_without_history" in names


def test_matches_combine_by_noisy_or_with_reasons(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
version: 1
rules:
  - {name: big, reason: BIG, weight: 0.5, when: {field: amount, op: gt, value: 100}}
  - name: abroad
    reason: ABROAD
    weight: 0.5
    when: {all: [{field: is_international, op: eq, value: true},
                 {not: {field: country, op: in, value: [DE, ES]}}]}
""",
    )
    rules = load_rules(path)
    batch = make_batch(
        {"amount": 500.0, "country": "US", "is_international": True},
        {"amount": 500.0, "country": "DE", "is_international": True},
        {"amount": 10.0, "country": "FR", "is_international": False},
    )
    result = rules.score(batch)
    assert np.allclose(result.scores, [0.75, 0.5, 0.0])
    assert result.reasons_of(0) == ["BIG", "ABROAD"]
    assert result.reasons_of(2) == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("{field: amout, op: gt, value: 1}", "unknown field 'amout'"),
        ("{field: amount, op: gt, value: high}", "numeric"),
        ("{field: channel, op: lt, value: pos}", "text"),
        ("{field: is_international, op: gt, value: true}", "boolean"),
        ("{field: amount, op: between, value: 1}", "op"),
        ("{field: channel, op: in, value: pos}", "list of values"),
    ],
)
def test_a_bad_condition_names_file_rule_and_problem(
    tmp_path: Path, body: str, problem: str
) -> None:
    path = write(
        tmp_path,
        f"version: 1\nrules:\n  - {{name: r1, reason: R1, weight: 0.1, when: {body}}}\n",
    )
    with pytest.raises(RulesError) as info:
        load_rules(path)
    message = str(info.value)
    assert str(path) in message and "'r1'" in message and problem in message


def test_a_bad_weight_and_a_duplicate_name_are_refused(tmp_path: Path) -> None:
    rule = "{{name: r1, reason: R1, weight: {w}, when: {{field: amount, op: gt, value: 1}}}}"
    bad_weight = write(tmp_path, f"rules:\n  - {rule.format(w=1.5)}\n")
    with pytest.raises(RulesError, match=r"rule 'r1': weight"):
        load_rules(bad_weight)
    twice = write(tmp_path, f"rules:\n  - {rule.format(w=0.1)}\n  - {rule.format(w=0.2)}\n")
    with pytest.raises(RulesError, match="used twice"):
        load_rules(twice)


def test_unreadable_and_invalid_yaml_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read"):
        load_rules(tmp_path / "missing.yaml")
    with pytest.raises(RulesError, match="not valid YAML"):
        load_rules(write(tmp_path, "rules: [unclosed\n"))


DECISIVE = """
version: 1
rules:
  - {name: big, reason: BIG, weight: 0.9, decides: review,
     when: {field: amount, op: gt, value: 220}}
  - {name: huge, reason: HUGE, weight: 0.99, decides: block,
     when: {field: amount, op: gt, value: 5000}}
  - {name: new, reason: NEW, weight: 0.1, when: {field: account_age_days, op: lt, value: 7}}
"""


def test_a_rule_may_be_decisive_and_says_so_beside_its_column(tmp_path: Path) -> None:
    rules = load_rules(write(tmp_path, DECISIVE))
    assert [rule.decides for rule in rules.rules] == ["review", "block", None]
    result = rules.score(make_batch({"amount": 300.0}, {"amount": 9000.0}))
    assert result.decides == ("review", "block", None)
    assert result.matched.tolist() == [[True, False, True], [True, True, True]]


@pytest.mark.parametrize("decides", ["allow", "maybe", "1"])
def test_a_rule_can_only_decide_review_or_block(tmp_path: Path, decides: str) -> None:
    path = write(
        tmp_path,
        "rules:\n  - {name: r1, reason: R1, weight: 0.1, decides: " + decides + ",\n"
        "     when: {field: amount, op: gt, value: 1}}\n",
    )
    with pytest.raises(RulesError) as info:
        load_rules(path)
    message = str(info.value)
    assert "'r1'" in message and "decides" in message and "'review' or 'block'" in message


def test_the_shipped_high_amount_rule_decides_review() -> None:
    rules = {rule.name: rule for rule in load_rules(RULES_FILE).rules}
    assert rules["high_amount"].decides == "review"
    assert {rule.decides for name, rule in rules.items() if name != "high_amount"} == {None}


def test_decisive_rules_survive_retraining_the_weights(tmp_path: Path) -> None:
    """``fraud-worker train`` rewrites the rules file with tuned weights: ``decides`` stays."""
    from worker.training.rules_tuning import write_rules

    rules = load_rules(write(tmp_path, DECISIVE))
    path = tmp_path / "tuned.yaml"
    write_rules(rules.with_weights(np.array([0.5, 0.6, 0.7])), path)
    again = load_rules(path)
    assert [rule.decides for rule in again.rules] == ["review", "block", None]
    assert [rule.weight for rule in again.rules] == [0.5, 0.6, 0.7]
