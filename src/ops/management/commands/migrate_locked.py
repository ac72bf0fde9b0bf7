import time

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError, connection

MIGRATE_LOCK_KEY = 0x6D69677261  # "migra": shared by every migrate run of the deployment


class Command(BaseCommand):
    help = "Wait for the database, then run migrate under a PostgreSQL advisory lock."

    def add_arguments(self, parser):
        parser.add_argument("--wait", type=int, default=60, help="seconds to wait for the database")

    def handle(self, *args, wait, **options):
        self.wait_for_database(wait)
        with connection.cursor() as cursor:
            # Blocks while another run migrates; it releases the lock when it is done.
            cursor.execute("SELECT pg_advisory_lock(%s)", [MIGRATE_LOCK_KEY])
            try:
                call_command("migrate", interactive=False, verbosity=options["verbosity"])
            finally:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [MIGRATE_LOCK_KEY])

    def wait_for_database(self, wait_seconds):
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                connection.ensure_connection()
                return
            except OperationalError as error:
                if time.monotonic() >= deadline:
                    reason = str(error).strip().splitlines()[0]
                    raise CommandError(f"database unreachable after {wait_seconds}s: {reason}") from None
                self.stderr.write("waiting for the database...")
                connection.close()
                time.sleep(1)
