"""The e-mail example: enqueued on commit, sent once, transient SMTP errors retried."""

import smtplib
from unittest.mock import patch

import pytest
from django.core import mail
from kombu.exceptions import OperationalError as BrokerError

from signups import services, welcome
from signups.models import Signup
from signups.tasks import send_welcome_email

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def locmem_mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def test_task_is_published_only_when_the_row_commits(django_capture_on_commit_callbacks):
    with patch.object(send_welcome_email, "delay") as delay:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            signup = services.create_signup("ada@example.com")
            delay.assert_not_called()  # still inside the transaction
        assert len(callbacks) == 1
        delay.assert_called_once_with(signup.pk)


def test_welcome_is_sent_once_per_signup():
    signup = Signup.objects.create(email="ada@example.com")
    assert welcome.send_welcome(signup.pk) is True
    assert welcome.send_welcome(signup.pk) is False  # a redelivered task sends nothing
    assert len(mail.outbox) == 1
    signup.refresh_from_db()
    assert signup.welcome_sent_at is not None


@pytest.mark.parametrize(
    "error",
    [smtplib.SMTPServerDisconnected("gone"), smtplib.SMTPResponseException(421, b"try later"), ConnectionError()],
)
def test_transient_smtp_errors_become_retryable(error):
    signup = Signup.objects.create(email="ada@example.com")
    with patch("signups.welcome.send_mail", side_effect=error):
        with pytest.raises(welcome.TransientEmailError):
            welcome.send_welcome(signup.pk)
    signup.refresh_from_db()
    assert signup.welcome_sent_at is None


def test_permanent_smtp_error_is_not_retried():
    signup = Signup.objects.create(email="ada@example.com")
    with patch("signups.welcome.send_mail", side_effect=smtplib.SMTPResponseException(550, b"no such user")):
        with pytest.raises(smtplib.SMTPResponseException):
            welcome.send_welcome(signup.pk)


def test_retry_policy_is_bounded_with_backoff():
    assert welcome.TransientEmailError in send_welcome_email.autoretry_for
    assert send_welcome_email.max_retries == 6
    assert send_welcome_email.retry_backoff and send_welcome_email.retry_jitter


def test_bad_signup_input(client):
    assert client.post("/signups/", {"email": "not-an-address"}).status_code == 400
    assert client.post("/signups/", data="{", content_type="application/json").status_code == 400
    assert client.get("/signups/").status_code == 405
    too_long = "a" * 64 + "@" + ".".join(["b" * 60] * 4) + ".com"  # valid syntax, 310 characters
    assert client.post("/signups/", {"email": too_long}).status_code == 400
    assert not Signup.objects.filter(email="not-an-address").exists()


@pytest.mark.django_db(transaction=True)  # real commits: the publish runs on commit
def test_a_signup_saved_while_the_broker_is_down_answers_with_its_id(client):
    refused = BrokerError("connection refused")
    with patch.object(send_welcome_email, "delay", side_effect=refused) as delay:
        response = client.post("/signups/", {"email": "grace@example.com"})
    delay.assert_called_once()
    assert response.status_code == 201
    body = response.json()
    assert body["email_queued"] is False
    assert Signup.objects.get(pk=body["signup_id"]).email == "grace@example.com"
