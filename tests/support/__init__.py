"""Helpers shared by the tests (one place): running the CLI, recording batches, a NaN loss, sweep
and SLURM helpers, the DDP loss worker and a loopback HTTP server. Fixtures are in ../conftest.py."""
