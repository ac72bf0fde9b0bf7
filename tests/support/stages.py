"""How long each stage of the run took (engine, images, make up, ...): printed at the end of
the test output by tests/conftest.py, so a slow stage shows without -s."""

import time
from contextlib import contextmanager

TIMES: list[tuple[str, float]] = []


@contextmanager
def stage(name):
    started = time.monotonic()
    try:
        yield
    finally:
        TIMES.append((name, time.monotonic() - started))


FIGURES: list[str] = []


def note(text):
    """A figure worth reading in CI's output (an image size, requests refused during a fault)."""
    FIGURES.append(text)
