"""Benchmarks: each measures side by side in one run and prints ratios."""
