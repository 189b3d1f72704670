"""Training-only code (``pip install .[train]``): data, the two models, rule tuning, the report.

Serving never imports this package.
"""
