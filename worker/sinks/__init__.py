"""The sink side: scored results, review items and dead letters, produced and acknowledged."""
