"""The report's tables: both card precision@100 definitions in named columns, the handbook's
published figures in the handbook's column only, reliability bins before and after."""

from __future__ import annotations

from worker.training.report import HANDBOOK_ROWS, markdown_table, reliability_markdown

LEVEL = {
    "roc_auc": 0.99,
    "average_precision": 0.87,
    "card_precision_at_100": 0.631,
    "card_precision_at_100_handbook": 0.314,
    "brier": 0.00246,
}


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip("|").split("|")]


def test_both_definitions_have_their_own_named_column() -> None:
    header, _, row = markdown_table({"primary": LEVEL}).splitlines()
    names = cells(header)
    ours = names.index("card precision@100, ours (every card, every day)")
    theirs = names.index("card precision@100, handbook's (cards caught earlier removed)")
    assert cells(row)[ours] == "0.631" and cells(row)[theirs] == "0.314"
    assert cells(row)[names.index("Brier")] == "0.00246"


def test_the_handbook_rows_fill_the_handbook_column_only() -> None:
    lines = markdown_table({"primary": LEVEL}, handbook_rows=True).splitlines()
    names = cells(lines[0])
    for (name, _, _, cp), line in zip(HANDBOOK_ROWS, lines[-len(HANDBOOK_ROWS) :], strict=True):
        row = cells(line)
        assert row[0] == name
        assert row[names.index("card precision@100, handbook's (cards caught earlier removed)")]
        assert row[names.index("card precision@100, ours (every card, every day)")] == "—"
        assert row[
            names.index("card precision@100, handbook's (cards caught earlier removed)")
        ] == (f"{cp:.3f}")
    assert "handbook:" not in markdown_table({"primary": LEVEL})


def test_reliability_rows_pair_the_bins_before_and_after() -> None:
    def table(n: int, rate: float | None) -> list[dict[str, object]]:
        return [
            {"bin": [0.0, 0.5], "transactions": n, "mean_score": rate, "fraud_rate": rate},
            {"bin": [0.5, 1.0], "transactions": 0, "mean_score": None, "fraud_rate": None},
        ]

    _, _, first, last = reliability_markdown(table(1200, 0.1), table(1100, 0.2)).splitlines()
    assert cells(first) == ["[0, 0.5)", "1,200", "0.1000", "0.1000", "1,100", "0.2000", "0.2000"]
    assert cells(last)[0] == "[0.5, 1]" and cells(last)[2] == "—"
