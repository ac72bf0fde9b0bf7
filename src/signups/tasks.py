from celery import shared_task

from . import welcome


@shared_task(
    autoretry_for=(welcome.TransientEmailError,),
    retry_backoff=5,  # 5 s, 10 s, 20 s, ... with jitter
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=6,
)
def send_welcome_email(signup_id):
    return welcome.send_welcome(signup_id)


@shared_task(ignore_result=True)
def enqueue_overdue_welcome_emails():
    """Sweep: a signup committed while RabbitMQ was down still gets its e-mail (sent once)."""
    # Every 5 minutes (beat) over a 1 h window: at most 12 extra attempts per signup.
    for signup_id in welcome.pending_welcome_ids(older_than_seconds=300, window_seconds=3600):
        send_welcome_email.delay(signup_id)
