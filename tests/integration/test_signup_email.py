"""The e-mail task is published only after its row is committed (delay_on_commit)."""

import time

import pytest
from celery.signals import after_task_publish
from django.db import connection, transaction

from signups import services
from signups.models import Signup
from tests.support.stack import wait_until

pytestmark = pytest.mark.stack
WELCOME = "signups.tasks.send_welcome_email"


@pytest.fixture
def published():
    """Tasks this process publishes: (name, whether a transaction was still open)."""
    seen = []

    def record(sender=None, **kwargs):
        seen.append((sender, connection.in_atomic_block))

    after_task_publish.connect(record, weak=False)
    yield seen
    after_task_publish.disconnect(record)


def test_email_task_sees_its_committed_row(stack, stack_db_blocker, published):
    with stack_db_blocker.unblock():
        with transaction.atomic():
            signup = services.create_signup("grace@example.com")
            # A task published now (delay instead of delay_on_commit) would reach the worker
            # while this row is invisible to it, and fail with DoesNotExist.
            time.sleep(1.5)
        wait_until(
            lambda: Signup.objects.filter(pk=signup.pk, welcome_sent_at__isnull=False).exists(),
            30,
            message="the welcome e-mail to be sent",
        )
        from django_celery_results.models import TaskResult

        latest = TaskResult.objects.filter(task_name="signups.tasks.send_welcome_email").latest("date_done")
        assert latest.status == "SUCCESS"
        assert latest.result == "true"
    log = (stack.run_dir / "log" / "worker0.log").read_text()
    assert "grace@example.com" in log  # the console e-mail backend printed it
    # Published once, after the commit, however busy the worker was.
    assert published == [(WELCOME, False)]


def test_rolled_back_signup_sends_nothing(stack, stack_db_blocker, published):
    with stack_db_blocker.unblock():
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                services.create_signup("rollback@example.com")
                raise RuntimeError("request failed after the insert")
        time.sleep(2)
        assert not Signup.objects.filter(email="rollback@example.com").exists()
    assert published == []  # no e-mail task left this process
    assert "rollback@example.com" not in (stack.run_dir / "log" / "worker0.log").read_text()
