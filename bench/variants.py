"""The configurations compared in one run. Each is the project's code and settings with a
few environment variables changed (knobs of .env.example or of bench/bench.env)."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Variant:
    key: str
    title: str
    env: dict = field(default_factory=dict)
    # POST /tasks/ through nginx at these connection counts (workers stopped: the accept path).
    enqueue: tuple = ()
    # Also the /healthz ceiling at the same counts, and POST /tasks/ while workers consume.
    http_ceiling: bool = False


# Celery's defaults as the seeds use them: prefetch 4, ack on receipt, the worker's DB
# connection closed after each task, and publishing without waiting for confirms.
NAIVE = {
    "CELERY_WORKER_PREFETCH_MULTIPLIER": "4",
    "CELERY_TASK_ACKS_LATE": "false",
    "CELERY_DB_REUSE_MAX": "0",
    "CELERY_CONFIRM_PUBLISH": "false",
}

# Nothing durable: a transient classic queue, transient messages, no confirms (the type named:
# the settings refuse a transient quorum queue).
TRANSIENT = {"CELERY_QUEUE_TYPE": "classic", "CELERY_QUEUE_DURABLE": "false", "CELERY_CONFIRM_PUBLISH": "false"}

ALL = [
    Variant("project", "project settings (confirms, quorum queue)", enqueue=(1, 8, 32, 64), http_ceiling=True),
    Variant("naive", "naive: Celery defaults", NAIVE),
    Variant("ignore_result", "results ignored (ceiling)", {"CELERY_TASK_IGNORE_RESULT": "true"}),
    # Monitoring's cost: no task events, so Flower (still running) shows no task list.
    Variant("events_off", "monitoring: no task events for Flower", {"CELERY_WORKER_SEND_TASK_EVENTS": "false"}),
    Variant("no_confirms", "durability: no publisher confirms", {"CELERY_CONFIRM_PUBLISH": "false"}, enqueue=(32,)),
    Variant("classic", "durability: durable classic queue + confirms", {"CELERY_QUEUE_TYPE": "classic"}, enqueue=(32,)),
    Variant("transient", "durability: none (transient queue and messages, no confirms)", TRANSIENT, enqueue=(32,)),
    Variant(
        "classic_no_confirms",
        "durability: durable classic queue, no confirms",
        {"CELERY_QUEUE_TYPE": "classic", "CELERY_CONFIRM_PUBLISH": "false"},
        enqueue=(32,),
    ),
]
BY_KEY = {variant.key: variant for variant in ALL}
