"""Settings of the benchmark stacks: production's, plus the knobs only bench/variants.py
turns, to price what production always keeps (bench/bench.env documents them).
Production never loads this module."""

from kombu import Queue

from config import env
from config.settings import *  # noqa: F403

# When a task is done, the same way for every variant (bench/done/apps.py).
INSTALLED_APPS = [*INSTALLED_APPS, "bench.done"]  # noqa: F405

# Celery's default, ack on receipt: the seeds' naive setup, with the same code.
CELERY_TASK_ACKS_LATE = env.boolean("CELERY_TASK_ACKS_LATE", True)
# 0 opens and closes a broker connection per publish: the price of the producer pool.
CELERY_BROKER_POOL_LIMIT = env.integer("CELERY_BROKER_POOL_LIMIT", 10)
# No result rows at all: the ceiling of end-to-end throughput (the status API needs them).
CELERY_TASK_IGNORE_RESULT = env.boolean("CELERY_TASK_IGNORE_RESULT", False)
# classic: the app's queue as a durable classic queue, the price of quorum (which production
# keeps for replication and its delivery limit). false: a transient classic queue and
# transient messages, the price of durability.
CELERY_QUEUE_TYPE = env.string("CELERY_QUEUE_TYPE", "quorum")
CELERY_QUEUE_DURABLE = env.boolean("CELERY_QUEUE_DURABLE", True)
if CELERY_QUEUE_TYPE not in {"classic", "quorum"}:
    raise env.ConfigError(f"CELERY_QUEUE_TYPE={CELERY_QUEUE_TYPE!r}: use classic or quorum")
if CELERY_QUEUE_TYPE == "quorum" and not CELERY_QUEUE_DURABLE:
    raise env.ConfigError("CELERY_QUEUE_DURABLE=false needs CELERY_QUEUE_TYPE=classic (quorum queues are durable)")
if CELERY_QUEUE_TYPE == "classic":
    # Production's queue (name, topic exchange, routing key) as a classic queue.
    (queue,) = CELERY_TASK_QUEUES  # noqa: F405
    classic = {"durable": CELERY_QUEUE_DURABLE, "queue_arguments": {"x-queue-type": "classic"}}
    CELERY_TASK_QUEUES = [Queue(queue.name, queue.exchange, routing_key=queue.routing_key, **classic)]
    if not CELERY_QUEUE_DURABLE:
        CELERY_TASK_DEFAULT_DELIVERY_MODE = "transient"
