"""Features defined once, for training and serving alike (no train/serve skew).

- ``event``: features of the event alone — what the fallback model sees.
- ``stateful``: per-card and per-terminal windowed aggregates — what the primary adds; at
  serving time they come from the Redis feature store (``store``).
"""
