"""Benchmarks for jaxlosses: run ``python -m bench --help``."""
