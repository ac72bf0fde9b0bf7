"""What the figures were measured on: hardware, OS and the versions of every server."""

import os
import platform
import re
import subprocess
from importlib.metadata import version

import psycopg2
from kombu import Connection


def _cpu_model():
    text = open("/proc/cpuinfo").read()
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    return found.group(1).strip() if found else platform.processor()


def _mem_gib():
    text = open("/proc/meminfo").read()
    return round(int(re.search(r"MemTotal:\s+(\d+)", text).group(1)) / 2**20, 1)


def _nginx():
    return subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip().split("/")[-1]


def _postgresql(url):
    with psycopg2.connect(url, connect_timeout=5) as connection, connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return cursor.fetchone()[0].split()[0]


def _rabbitmq(url):
    with Connection(url, connect_timeout=5) as connection:
        connection.connect()
        found = connection.connection.server_properties.get("version", "?")
        return found.decode() if isinstance(found, bytes) else found


def describe(env):
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _mem_gib(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": {
            "django": version("django"),
            "celery": version("celery"),
            "kombu": version("kombu"),
            "gunicorn": version("gunicorn"),
            "nginx": _nginx(),
            "postgresql": _postgresql(env["DATABASE_URL"]),
            "rabbitmq": _rabbitmq(env["CELERY_BROKER_URL"]),
        },
    }
