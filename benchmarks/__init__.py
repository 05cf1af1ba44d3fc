"""Benchmarks of the suite itself (`python benchmarks/run.py`); not part of the test run."""
