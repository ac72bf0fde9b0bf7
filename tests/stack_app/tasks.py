"""Test-only tasks, registered in the test stack's workers only (tests/stack_settings.py)."""

import os
import signal

from celery import shared_task


@shared_task(name="stack_app.poison")
def poison(marker_path):
    """A poison message while marker_path exists: it SIGKILLs its own worker process, as an
    out-of-memory kill or a segfault would, on every delivery. Once the marker is gone it
    succeeds, so a requeued copy can prove it ran."""
    if os.path.exists(marker_path):
        os.kill(os.getpid(), signal.SIGKILL)
    return "survived"
