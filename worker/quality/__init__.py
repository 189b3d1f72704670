"""Quality of the scoring, measured on what the worker published: ``fraud-worker evaluate``.

- ``read`` and ``decode``: topics read to their end, values decoded into numpy columns;
- ``results``: the last result per transaction, the join with the labels;
- ``figures``: per level and per day, the training report's measures and the analysts' load;
- ``report``: the table, ``evaluation.json`` and the PNGs;
- ``truth``: the simulator's complete ground truth as a file;
- ``live`` and ``follow``: rolling live figures per source, as Prometheus gauges.
"""
