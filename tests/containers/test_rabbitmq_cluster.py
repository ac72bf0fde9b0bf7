"""Several hosts, each a container with its own address: a three-node RabbitMQ cluster
(deploy/compose/rabbitmq-cluster.yml), the database (deploy/compose/database-tls.yml), the web
with beat and Flower, and worker replicas, everything between them over TLS with certificates
from deploy/bin/make-certs. The app's quorum queue has a member on each node. Under a steady
load of POST /tasks/, the queue's leader killed or partitioned, a worker cut off or killed:
every accepted task completes, publishing answers 503, never 500, while it fails over.
Plaintext from another host is refused."""

import collections
import json
import os
import re
import subprocess
import time

import pytest

from tests.containers.conftest import ComposeStack, site_tls
from tests.faults.load import Submitter
from tests.support import stages
from tests.support.stack import ROOT, wait_until

PROJECT = "apptest-cluster"
HTTP_PORT = 18091
NODES = ("rabbitmq", "rabbitmq2", "rabbitmq3")
NETWORK = f"{PROJECT}_default"  # the link every node and app container has: cutting it is a host's link down
# Accepted tasks per scenario: 200 in make test, 1,000 in make test-faults (tests/test.env).
BATCH = int(os.environ.get("FAULT_BATCH", "200"))


FILES = ("docker-compose.prod.yml", "deploy/compose/rabbitmq-cluster.yml", "deploy/compose/database-tls.yml")
TASK_LINE = re.compile(r"Task [\w.]+\[([0-9a-f-]{36})\] (received|succeeded)")


@pytest.fixture(scope="module")
def cluster_stack(docker_engine, container_images, tmp_path_factory):
    tls_dir = tmp_path_factory.mktemp("tls")
    subprocess.run([ROOT / "deploy/bin/make-certs", tls_dir, "broker,rabbitmq,rabbitmq2,rabbitmq3", "db"],
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    env = {**docker_engine, **site_tls(tls_dir, HTTP_PORT + 400), "COMPOSE_PROJECT_NAME": PROJECT,
           "HTTP_PORT": str(HTTP_PORT), "TLS_DIR": str(tls_dir), "NGINX_TASKS_RATE": "1000r/s",
           "NGINX_TASKS_BURST": "2000"}  # fmt: skip
    stack = ComposeStack(env, files=FILES, http_port=HTTP_PORT)
    with stages.stage("containers: cluster stack up (3 RabbitMQ nodes)"):
        stack.compose("up", "-d", "--wait", "--build", timeout=900)
    yield stack
    stack.compose("down", "--volumes", "--timeout", "30", timeout=300)


def rabbitmqctl(stack, node, command, *args):
    """A CLI call on `node`, bounded: while a member is cut off, a listing can wait on it."""
    return stack.compose("exec", "-T", node, "rabbitmqctl", "-q", command, "--timeout", "30", *args, timeout=90).stdout


def queue_state(stack, node="rabbitmq"):
    """The app queue's type, leader and members, as one node sees them."""
    out = rabbitmqctl(stack, node, "list_queues", "-p", "app", "name", "type", "leader", "members",
                      "--formatter", "json")  # fmt: skip
    (queue,) = [entry for entry in json.loads(out) if entry["name"] == "tasks"]
    return queue


def running_nodes(stack, node):
    """How many nodes `node` sees running; 0 while it cannot tell (a member is coming back)."""
    try:
        return len(json.loads(rabbitmqctl(stack, node, "cluster_status", "--formatter", "json"))["running_nodes"])
    except (AssertionError, ValueError, subprocess.TimeoutExpired):
        return 0


def new_leader_seen_by(stack, node, old_leader):
    """The queue's leader once it is another node than old_leader, as `node` sees it; None
    meanwhile (while a member is down, list_queues may fail on the queues it led)."""
    try:
        leader = queue_state(stack, node)["leader"].removeprefix("rabbit@")
    except (AssertionError, ValueError, subprocess.TimeoutExpired):
        return None
    return leader if leader and leader != old_leader else None


def executions(stack, task_ids):
    """How many times the workers received and ran each of these tasks, from every worker
    container's log (killed ones too): (ids delivered more than once, ids run to success
    more than once). At-least-once delivery allows both; they are counted and reported."""
    wanted, received, succeeded = set(task_ids), collections.Counter(), collections.Counter()
    for container in stack.containers("worker", all_states=True):
        for task_id, what in TASK_LINE.findall(stack.logs(container)):
            if task_id in wanted:
                (received if what == "received" else succeeded)[task_id] += 1
    assert set(succeeded) == wanted, f"{len(wanted - set(succeeded))} accepted tasks have no success in the logs"
    return sum(n > 1 for n in received.values()), sum(n > 1 for n in succeeded.values())


def report(stack, what, load):
    redelivered, ran_twice = executions(stack, load.accepted)
    refused = f"{load.refused} answered 503 over {load.refusal_seconds():.1f} s"
    stages.note(f"containers: cluster: {what}; {len(load.accepted)} accepted, {refused}, "
                f"{redelivered} delivered twice, {ran_twice} ran twice")  # fmt: skip


def test_three_nodes_form_one_cluster_and_the_queue_has_a_member_on_each(cluster_stack):
    status = json.loads(rabbitmqctl(cluster_stack, "rabbitmq2", "cluster_status", "--formatter", "json"))
    assert sorted(status["running_nodes"]) == [f"rabbit@{node}" for node in NODES]
    cluster_stack.submit(0)  # the queue exists once something was published or consumed
    queue = queue_state(cluster_stack)
    assert queue["type"] == "quorum"
    assert sorted(queue["members"]) == [f"rabbit@{node}" for node in NODES]


def test_the_leader_node_killed_under_load_loses_no_accepted_task(cluster_stack):
    leader = queue_state(cluster_stack)["leader"].removeprefix("rabbit@")
    survivor = next(node for node in NODES if node != leader)
    load = Submitter(cluster_stack.url, 100_000, seconds=300, threads=4, pause=0.02).start()
    wait_until(lambda: len(load.accepted) >= BATCH // 2, 120, 0.2, "half the batch accepted before the kill")

    killed_at = time.monotonic()
    cluster_stack.compose("kill", "-s", "SIGKILL", leader, timeout=60)
    accepted_at_kill = len(load.accepted)
    wait_until(lambda: len(load.accepted) >= accepted_at_kill + 50, 120, 0.2, "tasks accepted after the kill")
    failover = time.monotonic() - killed_at
    new_leader = wait_until(lambda: new_leader_seen_by(cluster_stack, survivor, leader), 120, 2, "a new leader")
    cluster_stack.compose("start", leader, timeout=120)
    wait_until(lambda: running_nodes(cluster_stack, survivor) == 3, 180, 2, "the killed node back in the cluster")
    wait_until(lambda: len(load.accepted) >= BATCH, 300, 0.2, "the whole batch accepted")
    load.stop().join()

    assert new_leader != leader
    assert load.server_errors == 0 and load.unexpected == []
    cluster_stack.wait_all_succeeded(load.accepted, timeout=300)
    report(cluster_stack, f"leader {leader} killed, {new_leader} leads, 50 more accepted {failover:.1f} s after", load)


def test_a_broker_node_partitioned_then_healed_loses_no_accepted_task(cluster_stack):
    """The queue's leader loses its link to everything (the other nodes and the app): the
    majority elects a new leader, the app fails over, pause_minority pauses the cut-off
    node, and once the link is back it rejoins."""
    leader = queue_state(cluster_stack)["leader"].removeprefix("rabbit@")
    survivor = next(node for node in NODES if node != leader)
    (container,) = cluster_stack.containers(leader)
    load = Submitter(cluster_stack.url, 100_000, seconds=300, threads=4, pause=0.02).start()
    wait_until(lambda: len(load.accepted) >= BATCH // 2, 120, 0.2, "half the batch accepted before the cut")

    cluster_stack.docker("network", "disconnect", NETWORK, container)
    accepted_at_cut = len(load.accepted)
    cut_at = time.monotonic()
    try:
        wait_until(lambda: len(load.accepted) >= accepted_at_cut + 50, 120, 0.2, "tasks accepted during the cut")
        failover = time.monotonic() - cut_at
        new_leader = wait_until(lambda: new_leader_seen_by(cluster_stack, survivor, leader), 240, 2, "a new leader")
    finally:
        cluster_stack.docker("network", "connect", "--alias", leader, NETWORK, container)
    wait_until(lambda: running_nodes(cluster_stack, survivor) == 3, 240, 2, "the cut-off node back in the cluster")
    wait_until(lambda: len(load.accepted) >= accepted_at_cut + BATCH // 2, 300, 0.2, "the whole batch accepted")
    load.stop().join()

    # Until the majority notices the cut (net_ticktime, 15 s) and the queue has a new leader,
    # publishes are not confirmed: 503s. A request that waits out two confirm bounds and the
    # connection attempts could outlast the client's 15 s timeout (it did with the default
    # 60 s tick): such timeouts are counted and reported; nothing else may go wrong.
    timeouts = load.unexpected.count("ReadTimeout")
    assert new_leader != leader
    assert load.server_errors == 0 and set(load.unexpected) <= {"ReadTimeout"}
    cluster_stack.wait_all_succeeded(load.accepted, timeout=300)
    report(cluster_stack, f"{leader} partitioned, {new_leader} leads, 50 more accepted {failover:.1f} s after the cut, "
           f"{timeouts} client timeouts (15 s)", load)  # fmt: skip


def test_worker_hosts_cut_off_or_killed_mid_task_lose_no_accepted_task(cluster_stack):
    """Two worker replicas stand for two worker hosts. One is cut off the network while it
    runs 10 s tasks, then reconnected; the other is then killed outright (SIGKILL, and left
    down). Every accepted task completes on whichever worker is left."""
    cluster_stack.compose("up", "-d", "--wait", "--no-recreate", "--scale", "worker=2", "worker", timeout=300)
    first, second = cluster_stack.containers("worker")
    load = Submitter(cluster_stack.url, 100_000, seconds=300, threads=2, pause=0.05).start()
    long_tasks = [cluster_stack.submit(1) for _ in range(8)]  # 4 pool slots each: both take some

    cluster_stack.docker("network", "disconnect", NETWORK, first)
    time.sleep(20)  # mid-task: its 10 s tasks ran out while it could not ack them
    cluster_stack.docker("network", "connect", NETWORK, first)
    wait_until(lambda: len(load.accepted) >= BATCH // 2, 120, 0.2, "half the batch accepted")

    cluster_stack.docker("kill", "--signal", "KILL", second)
    wait_until(lambda: len(load.accepted) >= BATCH, 300, 0.2, "the whole batch accepted")
    load.stop().join()

    assert load.server_errors == 0 and load.unexpected == []
    cluster_stack.wait_all_succeeded(load.accepted + long_tasks, timeout=300)
    report(cluster_stack, "a worker cut off 20 s, another killed", load)
    cluster_stack.compose("up", "-d", "--wait", "--scale", "worker=1", "worker", timeout=300)


# Run by the app's Python inside a worker container, i.e. from another host than the broker
# nodes and the database: every way in, and what became of it.
PROBE_FROM_A_WORKER_HOST = """
import json, os, socket, ssl
import psycopg2

outcomes = {}
def attempt(name, connect):
    try:
        connect().close()
        outcomes[name] = "connected"
    except Exception as error:
        outcomes[name] = f"{type(error).__name__}: {error}"

def tls(host, port, context, name):
    return context.wrap_socket(socket.create_connection((host, port), timeout=5), server_hostname=name)

for node in ("rabbitmq", "rabbitmq2", "rabbitmq3"):
    attempt(f"amqp {node}:5672", lambda: socket.create_connection((node, 5672), timeout=5))
    attempt(f"amqps {node}:5671", lambda: tls(node, 5671, ssl.create_default_context(cafile="/tls/ca.crt"), node))
attempt("amqps, the system's CAs", lambda: tls("rabbitmq", 5671, ssl.create_default_context(), "rabbitmq"))
url = os.environ["DATABASE_URL"].split("?")[0]
db_address = socket.gethostbyname("db")
attempt("postgres plaintext", lambda: psycopg2.connect(url, sslmode="disable", connect_timeout=5))
attempt("postgres verify-full", lambda: psycopg2.connect(url, sslmode="verify-full", sslrootcert="/tls/ca.crt"))
attempt("postgres verify-full by address", lambda: psycopg2.connect(
    url.replace("@db:", f"@{db_address}:"), sslmode="verify-full", sslrootcert="/tls/ca.crt", connect_timeout=5))
print(json.dumps(outcomes))
"""


def test_from_another_host_plaintext_is_refused_and_tls_is_verified(cluster_stack):
    (worker, *_) = cluster_stack.containers("worker")
    probe = ["docker", "exec", "-i", worker, "/opt/venv/bin/python", "-"]
    result = subprocess.run(probe, input=PROBE_FROM_A_WORKER_HOST, env=cluster_stack.env, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    outcomes = json.loads(result.stdout)
    shown = json.dumps(outcomes, indent=1)  # whole, in the failure message
    for node in NODES:
        assert outcomes[f"amqp {node}:5672"].startswith("ConnectionRefusedError"), shown
        assert outcomes[f"amqps {node}:5671"] == "connected", shown
    assert "CERTIFICATE_VERIFY_FAILED" in outcomes["amqps, the system's CAs"], shown
    assert "no encryption" in outcomes["postgres plaintext"], shown
    assert outcomes["postgres verify-full"] == "connected", shown
    assert "does not match host name" in outcomes["postgres verify-full by address"], shown

    # The Erlang distribution: the CLI reaches another node over mutual TLS, and not without it.
    over_tls = cluster_stack.compose("exec", "-T", "rabbitmq3", "rabbitmqctl", "-q", "-n", "rabbit@rabbitmq2",
                                     "status", check=False, timeout=120)  # fmt: skip
    assert over_tls.returncode == 0, over_tls.stderr
    plain = cluster_stack.compose("exec", "-T", "-e", "RABBITMQ_CTL_ERL_ARGS=", "rabbitmq3", "rabbitmqctl", "-q",
                                  "-n", "rabbit@rabbitmq2", "status", check=False, timeout=120)  # fmt: skip
    assert plain.returncode != 0, "a node answered a CLI that spoke plain Erlang distribution"
