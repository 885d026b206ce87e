"""The lists read page by page (controller/azure/pages.py), through the CLI against the simulator:
every page of every list is read, a 429 on a later page is retried, a refusal of a later page is
one line; and the transport's proxy, read once from the environment, is used."""

from __future__ import annotations

import select
import socket
import socketserver
import threading
from collections import Counter
from urllib.parse import urlsplit

import pytest

from controller.cli import main
from controller.simulator.messages import SimResponse


def on_later_pages(answer: SimResponse, times: int = 1):
    """A hook answering `answer` to the next `times` requests for a page after the first."""
    left = Counter(times=times)

    def hook(request):
        if "$skiptoken" in request.query and left["times"]:
            left["times"] -= 1
            return answer
        return None

    return hook, left


def test_every_page_of_every_list_is_read(sim, azure):
    assert main(["run", "--once"]) == 0
    sim.page_size = 1  # a page per VM, scale set and association
    vm_lists = Counter()  # the resource group's VMs, and the preflight's of the Flexible scale set
    sim.hook("VirtualMachines_List", lambda request: vm_lists.update(["filtered" if "$filter" in request.query else "all"]))
    sim.reset_calls()
    assert main(["plan"]) == 0  # a machine or association on a page not read would be planned again
    per_rule = Counter(a["properties"]["dataCollectionRuleId"].lower() for a in sim.list("association"))
    assert per_rule and max(per_rule.values()) > 1
    assert sim.calls["DataCollectionRuleAssociations_ListByRule"] == sum(per_rule.values())
    assert vm_lists == {"all": len(sim.list("vm")), "filtered": len(sim.vmss_members(sim.cluster.vmss_ids["htc"]))}
    assert sim.calls["VirtualMachineScaleSets_List"] == len(sim.list("vmss")) > 1


def test_a_429_on_a_later_page_is_retried_and_logged_with_its_retry(sim, azure, capsys):
    assert main(["run", "--once"]) == 0
    sim.page_size = 2
    throttled = SimResponse(429, {"error": {"code": "TooManyRequests", "message": "slow down"}}, {"retry-after-ms": "10"})
    hook, left = on_later_pages(throttled)
    sim.hook("DataCollectionRuleAssociations_ListByRule", hook)
    capsys.readouterr()
    assert main(["plan", "-v"]) == 0
    assert left["times"] == 0
    retried = [line for line in capsys.readouterr().err.splitlines() if "/associations 200" in line and "retries=1" in line]
    assert len(retried) == 1, retried


def test_a_refused_later_page_ends_in_one_line_naming_the_list_and_the_fix(sim, azure, capsys):
    assert main(["run", "--once"]) == 0
    sim.page_size = 1
    refused = SimResponse(403, {"error": {"code": "AuthorizationFailed", "message": "no read access"}})
    hook, left = on_later_pages(refused)
    sim.hook("VirtualMachines_List", hook)
    sim.reset_calls()
    capsys.readouterr()
    assert main(["plan"]) == 2
    err = capsys.readouterr().err
    assert left["times"] == 0 and sim.writes() == 0
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "virtual machines of resource group" in err and "403 AuthorizationFailed" in err
    assert "grant the controller's identity Reader on resource group" in err


# --- the proxy ---------------------------------------------------------------------------------
class _Tunnels(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Connect)
        self.targets: Counter[str] = Counter()


class _Connect(socketserver.StreamRequestHandler):
    """An HTTPS proxy: CONNECT host:port, then bytes both ways."""

    def handle(self):
        target = self.rfile.readline().split()[1].decode()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass
        self.server.targets[target] += 1
        host, port = target.rsplit(":", 1)
        with socket.create_connection((host, int(port))) as upstream:
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            ends = [self.connection, upstream]
            while True:
                for ready in select.select(ends, [], [], 30)[0]:
                    data = ready.recv(65536)
                    if not data:
                        return
                    (upstream if ready is self.connection else self.connection).sendall(data)


@pytest.fixture
def proxy(monkeypatch):
    for name in ("NO_PROXY", "no_proxy", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    server = _Tunnels()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{server.server_address[1]}")
    yield server
    server.shutdown()
    server.server_close()


def test_arm_requests_go_through_https_proxy_unless_no_proxy_names_the_host(sim, azure, proxy, monkeypatch):
    arm = urlsplit(azure.endpoint).netloc
    # The credential's requests (azure-identity's own transport) go to the same server by another name.
    monkeypatch.setenv("IDENTITY_ENDPOINT", azure.identity_endpoint.replace(urlsplit(azure.endpoint).hostname, "localhost"))
    assert main(["plan"]) == 3
    assert proxy.targets[arm] > 0
    proxy.targets.clear()
    monkeypatch.setenv("NO_PROXY", urlsplit(azure.endpoint).hostname)
    assert main(["plan"]) == 3
    assert proxy.targets[arm] == 0
