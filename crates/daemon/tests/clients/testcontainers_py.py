"""testcontainers-python (PyPI `testcontainers`, on docker-py) against berthd, the way test
suites use it: a user network, a service container with a network alias, a published port
reached from the host, wait strategies on its log and its port, exec, logs, a bind mount,
and everything removed when the `with` blocks end.
Usage: testcontainers_py.py IMAGE WORKDIR  (DOCKER_HOST names berthd's socket; the
caller sets TESTCONTAINERS_RYUK_DISABLED, since the reaper's image is on Docker Hub)."""
import os
import sys
import urllib.request

import docker
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network
from testcontainers.core.wait_strategies import LogMessageWaitStrategy, PortWaitStrategy

image, workdir = sys.argv[1], sys.argv[2]
site = os.path.join(workdir, "site")
os.makedirs(site, exist_ok=True)
with open(os.path.join(site, "index.html"), "w") as f:
    f.write("served by berthd\n")

client = docker.from_env()
before = {c.id for c in client.containers.list(all=True)}

with Network() as net:
    server = (
        DockerContainer(image)
        .with_command(["sh", "-c", "echo listening; exec httpd -f -p 8080 -h /www"])
        .with_exposed_ports(8080)
        .with_volume_mapping(site, "/www", "ro")
        .with_env("GREETING", "hi")
        .with_network(net)
        .with_network_aliases("web")
        .waiting_for(LogMessageWaitStrategy("listening"))
    )
    with server:
        host = server.get_container_host_ip()
        port = server.get_exposed_port(8080)
        PortWaitStrategy(8080).with_startup_timeout(20).wait_until_ready(server)
        body = urllib.request.urlopen(f"http://{host}:{port}/", timeout=10).read()
        assert body == b"served by berthd\n", body
        code, out = server.exec(["sh", "-c", "echo $GREETING; exit 4"])
        assert (code, out) == (4, b"hi\n"), (code, out)
        stdout, _ = server.get_logs()
        assert stdout == b"listening\n", stdout

        # A second container on the same network finds the first by its alias.
        client_c = (
            DockerContainer(image)
            .with_command(["sh", "-c", "wget -qO- http://web:8080/ && echo fetched"])
            .with_network(net)
        )
        with client_c:
            wrapped = client_c.get_wrapped_container()
            result = wrapped.wait(timeout=20)
            assert result["StatusCode"] == 0, (result, wrapped.logs())
            assert wrapped.logs() == b"served by berthd\nfetched\n", wrapped.logs()
    net_id = net._network.id

after = {c.id for c in client.containers.list(all=True)}
assert after == before, ("containers left behind", after - before)
assert net_id not in {n.id for n in client.networks.list()}, "network left behind"
print("testcontainers scenario ok")
