"""The dead-letter queue: where RabbitMQ moves a task delivered more than TASK_DELIVERY_LIMIT
times (config/settings.py), typically one that kills its worker process each time.

Workers never consume it. Operators look at it through `deploy/bin/manage deadletters` and
the health check reports the stack degraded while it holds messages.
"""

import json
import logging
from dataclasses import dataclass

from celery.signals import worker_ready
from django.conf import settings
from kombu import Queue

from config.celery import app

log = logging.getLogger(__name__)
# Headers RabbitMQ adds when it dead-letters; a requeued task starts afresh without them.
DEATH_HEADERS = ("x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason",
                 "x-last-death-exchange", "x-last-death-queue", "x-last-death-reason", "x-delivery-count")  # fmt: skip


def dead_letter_queue() -> Queue:
    # Reached through the default exchange under its own name (the task queue's
    # x-dead-letter-routing-key). Quorum, like the task queue: it survives a node's loss.
    return Queue(settings.TASK_DEAD_LETTER_QUEUE, routing_key=settings.TASK_DEAD_LETTER_QUEUE,
                 durable=True, queue_arguments={"x-queue-type": "quorum"})  # fmt: skip


def declare(channel) -> int:
    """Declares the queue (idempotent) and returns how many messages it holds."""
    _, depth, _ = dead_letter_queue().bind(channel).queue_declare()
    return depth


@worker_ready.connect
def declare_at_worker_start(sender=None, **kwargs):
    # Until it exists RabbitMQ keeps a task over the limit in the task queue (at-least-once
    # dead-lettering): declaring it here, before any task ran, keeps that window closed.
    try:
        with app.connection_for_write() as connection:
            declare(connection.default_channel)
    except Exception as error:  # the worker runs on; the health check reports the queue
        log.error("cannot declare the dead-letter queue %s: %s", settings.TASK_DEAD_LETTER_QUEUE, error)


@dataclass
class DeadLetter:
    task_id: str
    task_name: str
    reason: str
    message: object


def describe(message) -> DeadLetter:
    headers = message.headers or {}
    deaths = headers.get("x-death") or [{}]
    reason = f"{deaths[0].get('reason', '?')} from {deaths[0].get('queue', '?')}"
    return DeadLetter(headers.get("id", "?"), headers.get("task", "?"), reason, message)


class DeadLetters:
    """Reads the queue one message at a time on one channel. Messages it takes and does not
    settle go back to the queue when the channel closes, so an interrupted run loses none."""

    def __init__(self, connection, source: str | None = None):
        """source: another queue to read instead, which must exist (e.g. a retired one)."""
        self.channel = connection.channel()
        if source:
            self.channel.queue_declare(source, passive=True)
            self.queue = Queue(source, no_declare=True).bind(self.channel)
        else:
            self.queue = dead_letter_queue().bind(self.channel)
            self.queue.declare()

    def close(self):
        self.channel.close()

    def take_all(self, limit: int) -> list[DeadLetter]:
        """Up to `limit` messages, held (unacknowledged) until settled or closed."""
        taken = []
        while len(taken) < limit:
            message = self.queue.get(no_ack=False)
            if message is None:
                break
            taken.append(describe(message))
        return taken

    def requeue(self, letter: DeadLetter):
        """Publishes the task again to the task queue (confirmed), then drops the dead copy."""
        properties = dict(letter.message.properties)
        headers = {key: value for key, value in (letter.message.headers or {}).items() if key not in DEATH_HEADERS}
        queue = app.amqp.queues[settings.TASK_QUEUE]
        with app.producer_or_acquire() as producer:
            producer.publish(
                letter.message.body,
                exchange=queue.exchange,
                routing_key=queue.routing_key,
                headers=headers,
                content_type=letter.message.content_type,
                content_encoding=letter.message.content_encoding,
                delivery_mode=2,
                correlation_id=properties.get("correlation_id"),
                reply_to=properties.get("reply_to"),
                priority=properties.get("priority"),
                retry=False,
                declare=[queue],
            )
        letter.message.ack()

    def purge(self, letter: DeadLetter):
        letter.message.ack()


def as_json(letter: DeadLetter) -> str:
    return json.dumps({"task_id": letter.task_id, "task": letter.task_name, "reason": letter.reason})


def as_text(letter: DeadLetter) -> str:
    return f"{letter.task_id}  {letter.task_name}  ({letter.reason})"
