"""Reliability, measured: the fault matrix, SIGKILLs during a cold start, bad input; `python -m
benchmarks.reliability [--short]` prints the figures of docs/reliability.md."""
