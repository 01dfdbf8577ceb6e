"""docker-py (the Debian python3-docker package, PyPI's `docker`) against berthd:
pull, run detached, logs, exec, stop, remove, and build an image on the pulled one.
Usage: docker_py.py SOCKET IMAGE"""
import io
import sys
import time

import docker

sock, image = sys.argv[1], sys.argv[2]
client = docker.DockerClient(base_url="unix://" + sock, version="auto", timeout=60)
assert client.ping()
repo, tag = image.rsplit(":", 1)
img = client.images.pull(repo, tag=tag)
assert image in img.tags, img.tags
c = client.containers.run(
    image, ["sh", "-c", "echo hello from docker-py; exec sleep 300"],
    detach=True, network_mode="none", name="dockerpy1")
deadline = time.time() + 20
while b"hello from docker-py" not in c.logs() and time.time() < deadline:
    time.sleep(0.1)
assert c.logs() == b"hello from docker-py\n", c.logs()
c.reload()
assert c.status == "running", c.status
# The output comes a moment after the start: docker-py reads the 101 response through a
# buffered file and drops whatever arrived in the same read (its own race, dockerd's too).
code, out = c.exec_run(["sh", "-c", "sleep 0.2; echo $((6 * 7)); exit 3"])
assert (code, out) == (3, b"42\n"), (code, out)
c.stop(timeout=1)
c.reload()
assert c.status == "exited", c.status
assert c.wait()["StatusCode"] == 137, c.attrs["State"]
c.remove()
assert [x.name for x in client.containers.list(all=True)] == []
# A build (docker-py packs the Dockerfile into a context itself).
df = io.BytesIO(("FROM %s\nRUN echo built > /b\nCMD [\"cat\", \"/b\"]\n" % image).encode())
built, logs = client.images.build(fileobj=df, tag="pybuilt:1", network_mode="none", rm=True)
assert "pybuilt:1" in built.tags, built.tags
assert any("Successfully built" in l.get("stream", "") for l in logs)
out = client.containers.run("pybuilt:1", remove=True, network_mode="none")
assert out == b"built\n", out
print("docker-py scenario ok")
