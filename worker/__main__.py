"""``python -m worker`` = ``fraud-worker``."""

from worker.cli import main

main()
