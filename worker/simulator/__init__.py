"""Seeded, reproducible card-transaction simulator (Fraud Detection Handbook design plus
our extension fields); see ``worker.simulator.generate`` for the design."""

from worker.simulator.config import SimulationConfig
from worker.simulator.generate import SimulationResult, run_simulation, simulate
from worker.simulator.io import CSV_COLUMNS, read_csv_gz, write_csv_gz
from worker.simulator.model import EVENT_FIELDS, TRANSACTION_COLUMNS, Labels, Transactions
from worker.simulator.stream import DEFAULT_BATCH_SIZE, stream_events

__all__ = [
    "CSV_COLUMNS",
    "DEFAULT_BATCH_SIZE",
    "EVENT_FIELDS",
    "TRANSACTION_COLUMNS",
    "Labels",
    "SimulationConfig",
    "SimulationResult",
    "Transactions",
    "read_csv_gz",
    "run_simulation",
    "simulate",
    "stream_events",
    "write_csv_gz",
]
