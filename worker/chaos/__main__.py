"""``python -m worker.chaos``: run the chaos suite, print the table, write the results, and
exit 1 when a scenario lost an input (or, in exactly-once mode, duplicated one)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from worker.chaos.report import MODES, render_text, write_results
from worker.chaos.runner import SuiteConfig, run_suite
from worker.chaos.scenarios import QUICK, SCENARIOS, select
from worker.chaos.stack import DEFAULT_DIR, PROJECT_ROOT, ChaosStack, StackPorts, chaos_settings
from worker.errors import FraudWorkerError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m worker.chaos", description=__doc__)
    parser.add_argument("--mode", choices=[*MODES, "both"], default="both")
    parser.add_argument("--events", type=int, default=2000, help="valid events per scenario")
    parser.add_argument("--rate", type=float, default=250.0, help="events per second")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--scenario",
        action="append",
        dest="scenarios",
        metavar="NAME",
        help="run only these (repeatable); default: all",
    )
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--answer-timeout-s", type=float, default=90.0)
    parser.add_argument("--results", type=Path, default=PROJECT_ROOT / "bench" / "results")
    parser.add_argument("--stack-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--kafka-port", type=int, default=StackPorts.kafka)
    parser.add_argument("--controller-port", type=int, default=StackPorts.controller)
    parser.add_argument("--redis-port", type=int, default=StackPorts.redis)
    parser.add_argument(
        "--keep-stack",
        action="store_true",
        help="leave the chaos broker and Redis running afterwards",
    )
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)  # fmt: skip


def configure_logging(path: Path) -> None:
    """Everything to ``path``; only the suite's own warnings to the terminal. The suite's
    Kafka clients log every refused connection while a fault keeps the broker down."""
    path.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(path)
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[to_file])
    to_terminal = logging.StreamHandler()
    to_terminal.setLevel(logging.WARNING)
    logging.getLogger("worker.chaos").addHandler(to_terminal)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for scenario in SCENARIOS:
            print(f"{scenario.name:<18} {scenario.summary}")
        return 0
    configure_logging(args.stack_dir / "logs" / "suite.log")
    scenarios = select(list(QUICK) if args.quick else args.scenarios)
    modes = list(MODES) if args.mode == "both" else [args.mode]
    ports = StackPorts(args.kafka_port, args.controller_port, args.redis_port)
    stack = ChaosStack(chaos_settings(args.stack_dir, ports))
    config = SuiteConfig(
        events=args.events,
        rate=args.rate,
        seed=args.seed,
        answer_timeout_s=args.answer_timeout_s,
        log_dir=args.stack_dir / "logs",
        progress=not args.no_progress,
    )
    stack.up()
    try:
        outcomes = run_suite(stack, scenarios, modes, config)
    finally:
        if not args.keep_stack:
            stack.down()
    meta = {"events": args.events, "rate": args.rate, "seed": args.seed, "modes": modes,
            "finished": time.strftime("%Y-%m-%d %H:%M:%S")}  # fmt: skip
    print(render_text(outcomes))
    for path in write_results(outcomes, meta, args.results):
        print(f"wrote {path}")
    return 0 if all(o.ok for o in outcomes) else 1


def entry() -> int:
    """``main`` with the package's own errors (a port taken, Java missing) as one line."""
    try:
        return main()
    except FraudWorkerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    code = entry()
    sys.stdout.flush()
    sys.stderr.flush()
    # Not sys.exit: the suite's Kafka clients lived through killed brokers, and librdkafka's
    # destroy of such a client can wait forever on its broker threads.
    os._exit(code)
