"""Reproducible benchmarks (not run by CI as timed tests). See bench/README.md."""
