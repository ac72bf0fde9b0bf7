"""How the app publishes tasks: bounded waits, the errors that mean "the broker did not take
it" (a web request answers 503 then), and the web's lean path to the queue."""

import threading
import weakref

from amqp.exceptions import AMQPError
from celery.app.amqp import AMQP
from celery.signals import after_task_publish, before_task_publish
from celery.utils.nodenames import anon_nodename
from celery.utils.saferepr import saferepr
from kombu.common import maybe_declare
from kombu.entity import maybe_delivery_mode
from kombu.exceptions import OperationalError as BrokerError
from kombu.serialization import dumps
from kombu.utils.uuid import uuid

# What a publish raises when RabbitMQ is down, refuses the message or does not confirm it.
PUBLISH_ERRORS = (BrokerError, AMQPError, ConnectionError, TimeoutError, OSError)


class UnconfirmedPublish(BrokerError):
    """The message was handed to a broker connection, but RabbitMQ did not confirm it. It may
    still be queued: a broker under a memory or disk alarm stops reading its connections and
    takes what they sent once the alarm clears, and a node cut off may have taken it."""

    def __init__(self, task_id):
        super().__init__(f"task {task_id} was sent but not confirmed")
        self.task_id = task_id


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


# Plans by id() of the task object publish() is given, with the object itself (so that its id
# cannot be reused): the view passes a shared task, a proxy that would otherwise look up its
# current app and task on every attribute read.
_plans = {}


def _plan_for(task):
    entry = _plans.get(id(task))
    if entry is None:
        entry = _plans[id(task)] = (task, _plan(task.app, task.name))
    return entry[1]


def _plan(app, task_name):
    """How this task is published, read once per task: the queue Celery's router sends it to
    (no task_routes here depend on arguments), the task's own options (time limits, from the
    settings) and the settings of the publish."""
    conf = app.conf
    task = app.tasks[task_name]
    options = app.amqp.router.route({}, task_name, (), {}, task)
    queue = options["queue"]
    return {
        "app": app,
        "name": task_name,
        "queue": queue,
        "exchange": options.get("exchange") or queue.exchange.name,
        "routing_key": options.get("routing_key") or queue.routing_key,
        "delivery_mode": maybe_delivery_mode(queue.exchange.delivery_mode or conf.task_default_delivery_mode),
        "serializer": task.serializer,
        "priority": task.priority or 0,
        "message_options": {
            "time_limit": task.time_limit,
            "soft_time_limit": task.soft_time_limit,
            "expires": task.expires,
            "ignore_result": task.ignore_result,
        },
        # How Celery abbreviates the arguments in the message's argsrepr header. It reads
        # task_repr_maxlevels on every call when not given the repr: about 10 us, most of
        # as_task_v2's time.
        "argsrepr_maxsize": app.amqp.argsrepr_maxsize,
        "repr_maxlevels": conf.task_repr_maxlevels,
        "retry_policy": conf.task_publish_retry_policy,
        "confirm_timeout": conf.task_publish_confirm_timeout,
        "send_sent_event": conf.task_send_sent_event,
    }


class _ThreadPublisher(threading.local):
    """Each thread's own producer, on its own broker connection, per Celery app.

    Celery's producer pool, which delay() uses, takes a producer and a connection out and puts
    them back on every publish: locks, a channel revived and a settings lookup, about 7% of the
    web's GIL time under load (docs/performance.md). A gunicorn thread publishes one task at
    a time, so it keeps its own: as many connections as threads (the pool allowed
    CELERY_BROKER_POOL_LIMIT per process). Created after gunicorn forks, on first use."""

    def __init__(self):
        self.producers = weakref.WeakKeyDictionary()  # an app that is gone takes its producer along
        self.origin = anon_nodename()  # the message's origin header: this host and process

    def producer(self, app):
        producer = self.producers.get(app)
        if producer is None:
            producer = self.producers[app] = app.amqp.Producer(app.connection_for_write(), auto_declare=False)
        return producer

    def discard(self, app):
        """Forget a producer whose publish failed: kombu may have left it without a channel
        (a reconnect that failed), so the thread's next publish starts on a new connection,
        as a producer checked out of Celery's pool would. collect() frees the connection
        without a word to the broker, which may be gone."""
        producer = self.producers.pop(app, None)
        if producer is not None:
            producer.connection.collect()


_thread = _ThreadPublisher()


def _set_up(connection, channel, queue, confirm_timeout):
    """A broker connection's first publish: declare the queue (kombu records it), and make each
    publish one write and one wait for its confirm.

    - The socket keeps the confirm timeout for good. py-amqp applies a publish's
      confirm_timeout by switching the socket's timeout on and off around every wait, two
      ioctl calls per task, each giving up and retaking the GIL among gunicorn's threads. With
      the socket already at that timeout it switches nothing; a send that stalls is now bounded
      too, and kombu treats either timeout as a lost connection.
    - No look for a connection.blocked notice before each publish: py-amqp reads the socket
      without waiting (two ioctl and a recv) to see one. Frames the broker sent are still read,
      while the publish waits for its confirm; a broker that blocks publishers (a memory or
      disk alarm) stops confirming, and the request answers 503 after the confirm timeout,
      as it did with the notice."""
    maybe_declare(queue, channel)
    amqp_connection = connection.connection
    amqp_connection.transport.sock.settimeout(confirm_timeout)
    properties = amqp_connection.client_properties  # replaced, not changed: py-amqp's own dict
    capabilities = {**properties.get("capabilities", {}), "connection.blocked": False}
    amqp_connection.client_properties = {**properties, "capabilities": capabilities}


def publish(task, args):
    """Publishes task(*args) the way task.delay(*args) does, and returns its id.

    The message is Celery's own (protocol v2, built by Celery's as_task_v2: the same headers,
    properties and JSON body), sent to the queue Celery routes the task to, persistent, and
    confirmed by RabbitMQ within task_publish_confirm_timeout; the publish retry policy and
    the before/after_task_publish signals (config/tracing.py) apply as in Celery. Left out is
    what costs a web request CPU on every call and gives it nothing: send_task's option
    merging, routing and settings lookups (done once per task here), the producer pool's
    checkout (each thread keeps its own producer), and kombu's declare check, which copies
    the queue and exchange on each publish (here the queue is declared once per broker
    connection). A stock Celery worker runs what it sends
    (tests/integration/test_publishing.py); docs/performance.md has what it saves.
    """
    plan = _plan_for(task)
    if plan["send_sent_event"]:
        # Flower's SENT state is a second publish per task: Celery's own path sends it.
        return task.apply_async(args).id
    app, name = plan["app"], plan["name"]
    queue, exchange, routing_key = plan["queue"], plan["exchange"], plan["routing_key"]
    task_id = uuid()
    headers, properties, body, _ = app.amqp.as_task_v2(
        task_id,
        name,
        args,
        {},
        reply_to=app.thread_oid,
        argsrepr=saferepr(args, plan["argsrepr_maxsize"], maxlevels=plan["repr_maxlevels"]),
        kwargsrepr="{}",
        origin=_thread.origin,
        **plan["message_options"],
    )
    before_task_publish.send(
        sender=name,
        body=body,
        exchange=exchange,
        routing_key=routing_key,
        declare=[queue],
        headers=headers,
        properties=properties,
        retry_policy=plan["retry_policy"],
    )
    content_type, content_encoding, payload = dumps(body, serializer=plan["serializer"])
    properties["delivery_mode"] = plan["delivery_mode"]

    producer = _thread.producer(app)
    connection = producer.connection
    sent = False

    def send():
        nonlocal sent
        channel = producer.channel
        if hash(queue) not in connection.declared_entities:  # kombu's record, emptied on reconnect
            _set_up(connection, channel, queue, plan["confirm_timeout"])
        message = channel.prepare_message(
            payload, plan["priority"], content_type, content_encoding, headers, properties
        )
        sent = True  # from here on RabbitMQ may have the message, confirmed or not
        channel.basic_publish(
            message, exchange=exchange, routing_key=routing_key, confirm_timeout=plan["confirm_timeout"]
        )

    # On a lost connection kombu reconnects (the next node of a cluster) and sends again, as
    # the policy allows; then the error reaches the caller (a 503).
    try:
        connection.ensure(producer, send, **plan["retry_policy"])()
    except BaseException as error:
        _thread.discard(app)
        if sent and isinstance(error, PUBLISH_ERRORS):
            raise UnconfirmedPublish(task_id) from error
        raise
    after_task_publish.send(sender=name, body=body, exchange=exchange, routing_key=routing_key)
    return task_id
