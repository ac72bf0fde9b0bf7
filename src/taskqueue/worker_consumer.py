"""The worker's consumer, with its monitoring events published without publisher confirms.

CELERY_BROKER_TRANSPORT_OPTIONS turns confirms on for every connection the app opens for
writing, and the worker's event dispatcher is one of them: each flush of task events then
blocked the worker's event loop until RabbitMQ confirmed it, so the loop stopped
dispatching tasks and acking results for a broker round trip per flush (about half of the
worker's time under load, bench/ profile). Events are monitoring data (Flower's task view)
on transient queues; a lost one costs a stale row in Flower, never a task. Task messages
keep their confirms: they are published through the app's producer pool, not here.
"""

from celery.worker.consumer import Consumer

EVENTS_TRANSPORT_OPTIONS = {"confirm_publish": False}


class EventsWithoutConfirmsConsumer(Consumer):
    def connection_for_write(self, url=None, heartbeat=None):
        # In the worker only the Events bootstep asks the consumer for a write connection.
        connection = self.app.connection_for_write(
            url=url, heartbeat=heartbeat, transport_options=EVENTS_TRANSPORT_OPTIONS
        )
        return self.ensure_connected(connection)
