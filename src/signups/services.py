"""Signing up: the row, and its welcome e-mail published once the row is committed."""

from django.db import transaction

from taskqueue.publishing import PUBLISH_ERRORS

from .models import Signup
from .tasks import send_welcome_email


class WelcomeNotQueued(Exception):
    """The signup is committed, but its welcome e-mail could not be published (the periodic
    sweep sends it once RabbitMQ is back). Carries the saved signup for the caller."""

    def __init__(self, signup: Signup):
        super().__init__(f"signup {signup.pk} saved, welcome e-mail not queued")
        self.signup = signup


def create_signup(email: str) -> Signup:
    try:
        with transaction.atomic():
            signup = Signup.objects.create(email=email)
            # Enqueued only when the row is committed: a worker never looks for a missing row,
            # and a rolled-back signup sends nothing.
            send_welcome_email.delay_on_commit(signup.pk)
    except PUBLISH_ERRORS as error:
        # Raised by the publish after the commit: the row exists, the caller must learn its id.
        raise WelcomeNotQueued(signup) from error
    return signup
