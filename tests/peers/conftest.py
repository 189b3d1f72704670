"""The benchmark's Quix Streams peers need a venv of their own (``<stack dir>/bench-venv``,
minutes to build from PyPI): ``make bench-test`` runs them by setting FRAUD_PEERS_TEST=1;
``make test`` and a plain ``pytest`` leave this folder out."""

import os

collect_ignore_glob = [] if os.environ.get("FRAUD_PEERS_TEST") == "1" else ["test_*.py"]
