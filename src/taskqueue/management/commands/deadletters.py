"""deploy/bin/manage deadletters list|requeue|purge [--id TASK_ID ...]: the tasks RabbitMQ
moved to the dead-letter queue after too many deliveries (taskqueue/dead_letters.py)."""

from django.core.management.base import BaseCommand, CommandError

from config.celery import app
from taskqueue import dead_letters
from taskqueue.publishing import PUBLISH_ERRORS

MAX_MESSAGES = 10_000  # one run's bound; run it again for more


class Command(BaseCommand):
    help = "List, requeue (back to the task queue) or purge the dead-lettered tasks."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["list", "requeue", "purge"])
        parser.add_argument("--id", action="append", default=[], dest="task_ids", metavar="TASK_ID",
                            help="only these tasks (repeatable); requeue and purge need --id or --all")  # fmt: skip
        parser.add_argument(
            "--all", action="store_true", dest="everything", help="requeue or purge every dead-lettered task"
        )
        parser.add_argument("--json", action="store_true", help="list as JSON lines")
        parser.add_argument("--queue", help="read this queue instead (the classic `celery` of older releases)")

    def handle(self, *args, action, task_ids, everything, **options):
        if action != "list" and not (task_ids or everything):
            raise CommandError(f"{action} needs --id TASK_ID (repeatable) or --all")
        try:
            with app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, interval_start=0, timeout=5)
                reader = dead_letters.DeadLetters(connection, options["queue"])
                try:
                    self.run(reader, action, set(task_ids), options["json"])
                finally:
                    reader.close()  # what was taken and not settled goes back to the queue
        except PUBLISH_ERRORS as error:
            raise CommandError(f"RabbitMQ: {type(error).__name__}: {error}") from error

    def run(self, reader, action, task_ids, as_json):
        letters = reader.take_all(MAX_MESSAGES)
        chosen = [letter for letter in letters if not task_ids or letter.task_id in task_ids]
        unknown = task_ids - {letter.task_id for letter in letters}
        if unknown:
            raise CommandError(f"not in {reader.queue.name}: {', '.join(sorted(unknown))}")
        if action == "list":
            for letter in chosen:
                self.stdout.write(dead_letters.as_json(letter) if as_json else dead_letters.as_text(letter))
            if not as_json:
                self.stdout.write(f"{len(chosen)} task(s) in {reader.queue.name}")
            return
        settle = reader.requeue if action == "requeue" else reader.purge
        for letter in chosen:
            settle(letter)
            self.stdout.write(f"{action}d {letter.task_id}  {letter.task_name}")
        self.stdout.write(f"{len(chosen)} task(s) {action}d")
