"""``fraud-worker train``: regenerate the data, models, tuned rules and report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from worker.simulator import SimulationConfig
from worker.simulator.labels import ChargebackConfig
from worker.training.dataset import SplitConfig

FULL_SPLIT_DAYS = SplitConfig().test_start + SplitConfig().test_days


def short_split(days: int) -> SplitConfig:
    """A proportional split for simulations shorter than the reference (quick runs, tests)."""
    test = max(7, days // 5)
    train = days - 44 - test
    return SplitConfig(
        burn_in_days=30,
        train_days=train,
        delay_days=7,
        test_days=test,
        calibration_days=max(3, train // 6),
    )


def train_command(
    models_dir: Annotated[Path, typer.Option(help="Where artifacts and report go.")] = Path(
        "models"
    ),
    rules: Annotated[Path, typer.Option(help="Rules file whose weights are tuned in place.")] = (
        Path("rules/rules.yaml")
    ),
    seed: Annotated[int, typer.Option(help="Seed of the simulation and of training.")] = 42,
    customers: Annotated[int, typer.Option(min=10, help="Simulated customers.")] = 5000,
    terminals: Annotated[int, typer.Option(min=10, help="Simulated terminals.")] = 10000,
    days: Annotated[int, typer.Option(min=90, help="Simulated days.")] = 183,
    label_delay_days: Annotated[
        float, typer.Option(min=0, help="Days from a fraud to its chargeback label.")
    ] = ChargebackConfig.delay_days,
    label_coverage: Annotated[
        float, typer.Option(min=0, max=1, help="Share of frauds the chargeback feed reports.")
    ] = ChargebackConfig.coverage,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Simulate transactions, train the primary (ONNX MLP) and fallback (LightGBM) models on
    terminal risk as the chargeback feed delivers it, calibrate them, tune the rules, and
    evaluate every ladder level on held-out weeks."""
    from worker.training.pipeline import TrainConfig, train

    simulation = SimulationConfig(
        n_customers=customers, n_terminals=terminals, n_days=days, seed=seed
    )
    split = SplitConfig() if days >= FULL_SPLIT_DAYS else short_split(days)
    labels = ChargebackConfig(delay_days=label_delay_days, coverage=label_coverage)
    manifest = train(TrainConfig(models_dir, rules, simulation, split, progress, labels))
    typer.echo(f"model version {manifest.model_version}")
    typer.echo((models_dir / "report" / "README.md").read_text())
