"""Benchmarks of the real stack: `make bench` (bench/run) runs `python -m bench`."""
