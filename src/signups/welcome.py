"""The welcome e-mail as plain functions, sent once per signup; tasks.py wraps them for Celery."""

import smtplib

from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from .models import Signup


class TransientEmailError(Exception):
    """The mail server may accept the message later (4xx reply, dropped connection)."""


def send_welcome(signup_id: int) -> bool:
    """Send the welcome e-mail once per signup, even when the task is delivered twice."""
    with transaction.atomic():
        signup = Signup.objects.select_for_update().get(pk=signup_id)
        if signup.welcome_sent_at is not None:
            return False
        try:
            send_mail("Welcome", "Thanks for signing up.", None, [signup.email])
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError, TimeoutError) as error:
            raise TransientEmailError(str(error)) from error
        except smtplib.SMTPResponseException as error:
            if 400 <= error.smtp_code < 500:
                raise TransientEmailError(f"{error.smtp_code} {error.smtp_error!r}") from error
            raise
        signup.welcome_sent_at = timezone.now()
        signup.save(update_fields=["welcome_sent_at"])
    return True


def pending_welcome_ids(older_than_seconds: int, window_seconds: int) -> list[int]:
    """Signups whose welcome e-mail is overdue, e.g. because the broker was down at commit.

    Only within a window: a signup whose e-mail fails for good (a refused address) is retried
    a bounded number of times by the sweep, not forever.
    """
    now = timezone.now()
    recent = Signup.objects.filter(
        welcome_sent_at__isnull=True,
        created_at__lt=now - timezone.timedelta(seconds=older_than_seconds),
        created_at__gte=now - timezone.timedelta(seconds=older_than_seconds + window_seconds),
    )
    return list(recent.values_list("pk", flat=True)[:1000])
