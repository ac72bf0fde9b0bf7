"""The broker as a three-node RabbitMQ cluster (deploy/compose/rabbitmq-cluster.yml on top of
docker-compose.prod.yml): the app's quorum queue has a member on each node, and when the node
that leads it is SIGKILLed under a steady load of POST /tasks/, then brought back, every
accepted task completes; publishing answers 503, never 500, while it fails over."""

import json
import os
import time

import pytest

from tests.containers.conftest import ComposeStack
from tests.faults.load import Submitter
from tests.support import stages
from tests.support.stack import wait_until

PROJECT = "apptest-cluster"
HTTP_PORT = 18091
NODES = ("rabbitmq", "rabbitmq2", "rabbitmq3")
# Accepted tasks per scenario: 200 in make test, 1,000 in make test-faults (tests/test.env).
BATCH = int(os.environ.get("FAULT_BATCH", "200"))


@pytest.fixture(scope="module")
def cluster_stack(docker_engine, container_images):
    env = {**docker_engine, "COMPOSE_PROJECT_NAME": PROJECT, "HTTP_PORT": str(HTTP_PORT),
           "NGINX_TASKS_RATE": "1000r/s", "NGINX_TASKS_BURST": "2000"}  # fmt: skip
    stack = ComposeStack(env, files=("docker-compose.prod.yml", "deploy/compose/rabbitmq-cluster.yml"),
                         http_port=HTTP_PORT)  # fmt: skip
    with stages.stage("containers: cluster stack up (3 RabbitMQ nodes)"):
        stack.compose("up", "-d", "--wait", "--build", timeout=900)
    yield stack
    stack.compose("down", "--volumes", "--timeout", "30", timeout=300)


def rabbitmqctl(stack, node, *args):
    return stack.compose("exec", "-T", node, "rabbitmqctl", "-q", *args, timeout=60).stdout


def queue_state(stack, node="rabbitmq"):
    """The app queue's type, leader and members, as one node sees them."""
    out = rabbitmqctl(stack, node, "list_queues", "-p", "app", "name", "type", "leader", "members",
                      "--formatter", "json")  # fmt: skip
    (queue,) = [entry for entry in json.loads(out) if entry["name"] == "tasks"]
    return queue


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
    new_leader = queue_state(cluster_stack, survivor)["leader"].removeprefix("rabbit@")
    cluster_stack.compose("start", leader, timeout=120)
    wait_until(lambda: len(json.loads(rabbitmqctl(cluster_stack, survivor, "cluster_status", "--formatter", "json"))
                           ["running_nodes"]) == 3, 180, 2, "the killed node back in the cluster")  # fmt: skip
    wait_until(lambda: len(load.accepted) >= BATCH, 300, 0.2, "the whole batch accepted")
    load.stop().join()

    stages.note(f"containers: cluster: leader {leader} killed, {new_leader} leads; {len(load.accepted)} accepted, "
                f"{load.refused} answered 503, 50 more accepted {failover:.1f} s after the kill")  # fmt: skip
    assert new_leader != leader
    assert load.server_errors == 0 and load.unexpected == []
    cluster_stack.wait_all_succeeded(load.accepted, timeout=300)
