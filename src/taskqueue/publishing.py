"""How the app publishes tasks: bounded waits, and the errors that mean "the broker did not
take it" (a web request answers 503 then)."""

from amqp.exceptions import AMQPError
from celery.app.amqp import AMQP
from kombu.exceptions import OperationalError as BrokerError

# What a publish raises when RabbitMQ is down, refuses the message or does not confirm it.
PUBLISH_ERRORS = (BrokerError, AMQPError, ConnectionError, TimeoutError, OSError)


class BoundedConfirmAMQP(AMQP):
    """Every task publish waits at most task_publish_confirm_timeout seconds for RabbitMQ's
    confirm. Celery passes no such bound by default, and a broker connection's transport
    options do not reach the publish: a node that stops answering after it took the bytes
    (frozen, or cut off once the kernel had acknowledged them) left the publisher waiting
    for TCP keepalive to give up, over a minute. A timeout is a connection error to kombu:
    the publish retry policy reconnects (to the next node of a cluster) and publishes again,
    or the request answers 503."""

    def _create_task_sender(self):
        send_task_message = super()._create_task_sender()
        default_timeout = self.app.conf.task_publish_confirm_timeout

        def send_with_confirm_timeout(*args, confirm_timeout=None, **kwargs):
            return send_task_message(*args, confirm_timeout=confirm_timeout or default_timeout, **kwargs)

        return send_with_confirm_timeout
