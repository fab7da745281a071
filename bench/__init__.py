"""Pulseboard's benchmark suite: `python -m bench [--quick] [ingest|monitoring|api]`."""
