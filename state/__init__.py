"""The run directory: run records, the metrics stream, summaries and the promotion gate.

This is the contract between the trainer and everything that reads a run (the console, the gate,
benchmarks); `docs/run-directory.md` documents it. Imports neither torch nor transformers.
"""

SCHEMA_VERSION = 1
