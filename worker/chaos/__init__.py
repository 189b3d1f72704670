"""The chaos suite: real workers on a real (second, private) stack, through real faults.

Each scenario runs two ``python -m worker run`` subprocesses on fresh topics, group and Redis
keys, streams simulated events (with undecodable and oversized messages mixed in), injects
one fault kind by real means — signals to the workers, the broker and Redis, Redis refusing
writes, members joining and leaving, faulty primary models — and accounts for every input
from a read_committed reader: lost, duplicated, answered by which level, and how long the
primary took to come back. ``python -m worker.chaos --help``; ``make chaos``.
"""
