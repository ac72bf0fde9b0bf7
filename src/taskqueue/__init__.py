"""Celery plumbing of the project: result writes, the worker's consumer, beat's lock, publishing."""
