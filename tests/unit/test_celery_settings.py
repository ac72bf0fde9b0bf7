"""The delivery guarantees the deployment depends on are really configured."""

from types import SimpleNamespace

from celery.utils.imports import symbol_by_name

from config.celery import app


def test_broker_is_rabbitmq_and_results_go_to_postgresql():
    assert app.conf.broker_url.startswith("amqp://")
    assert app.conf.result_backend == "django-db"
    assert type(app.backend).__name__ == "RetryingDatabaseBackend"


def test_at_least_once_delivery_settings():
    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.broker_transport_options["confirm_publish"] is True
    assert conf.broker_connection_retry_on_startup is True
    assert conf.worker_cancel_long_running_tasks_on_connection_loss is True
    assert conf.result_backend_always_retry is True
    assert all(queue.durable for queue in conf.task_queues)
    assert conf.task_default_delivery_mode == "persistent"


def test_json_only_no_pickle():
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_serializer == "json"


def test_worker_keeps_its_database_connection():
    # Celery's Django fixup closes the connection after each task unless this is set.
    assert app.conf.get("CELERY_DB_REUSE_MAX", 0) >= 100


def test_time_limits_above_the_longest_seed_task():
    assert app.conf.task_soft_time_limit > 30
    assert app.conf.task_time_limit > app.conf.task_soft_time_limit


def test_beat_schedules_result_cleanup():
    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "celery.backend_cleanup" in tasks
    assert app.conf.result_expires  # without it the cleanup task deletes nothing


def test_worker_events_are_published_without_confirms_and_tasks_with_them():
    consumer_class = symbol_by_name(app.conf.worker_consumer)
    worker_consumer = SimpleNamespace(app=app, ensure_connected=lambda connection: connection)
    events_connection = consumer_class.connection_for_write(worker_consumer)  # lazy: no connect
    assert events_connection.transport_options["confirm_publish"] is False
    assert app.connection_for_write().transport_options["confirm_publish"] is True
