"""HTTPS front end of :class:`~controller.simulator.arm.ArmSimulator`.

A ``ThreadingHTTPServer`` (HTTP/1.1 keep-alive, one thread per connection) behind TLS with a
throwaway CA made by ``trustme``. The TLS handshake runs in the connection's own thread, so a
slow client never blocks ``accept``.

``server.env()`` gives the variables that point the real SDK stack at the simulator:

``ARM_ENDPOINT``        the simulator's base URL (pass as ``base_url``)
``LOGS_ENDPOINT``       the same: the Log Analytics query API (``/v1/workspaces/...``)
``REQUESTS_CA_BUNDLE``  PEM of the CA; ``requests`` (azure-core's transport) trusts it
``IDENTITY_ENDPOINT``   App Service style managed identity token endpoint (``/msi/token``)
``IDENTITY_HEADER``     the secret that endpoint expects in ``X-IDENTITY-HEADER``

With the last two set, azure-identity's ``ManagedIdentityCredential`` and
``DefaultAzureCredential`` fetch tokens from the simulator.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import struct
import tempfile
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Iterator

from .identity import IDENTITY_PATH

if TYPE_CHECKING:
    from .arm import ArmSimulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_TLSServer"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        host = self.headers.get("Host") or f"{self.server.server_address[0]}:{self.server.server_address[1]}"
        resp = self.server.sim.handle(self.command, self.path, dict(self.headers.items()), raw, f"https://{host}")
        if resp.reset:  # linger 0: closing sends a TCP RST, as a dropped connection does
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        payload = resp.encode()
        self.send_response(resp.status)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        if resp.body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        # one write for headers and body (with end_headers() they would be two TLS records)
        self._headers_buffer.append(b"\r\n")
        if payload and self.command != "HEAD":
            self._headers_buffer.append(payload)
        self.flush_headers()

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST = do_HEAD = _serve


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True
    idle_timeout = 300.0

    def __init__(self, addr, sim: "ArmSimulator", ctx: ssl.SSLContext) -> None:
        self.sim = sim
        self.ssl_context = ctx
        self._conns: set[ssl.SSLSocket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def finish_request(self, request: socket.socket, client_address) -> None:
        # runs in the per-connection thread: do the handshake here, not in accept()
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            request.settimeout(10)
            tls = self.ssl_context.wrap_socket(request, server_side=True)
            tls.settimeout(self.idle_timeout)  # keep-alive connections idle longer than this are closed
        except (ssl.SSLError, OSError):
            return
        with self._conns_lock:
            self._conns.add(tls)
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            with self._conns_lock:
                self._conns.discard(tls)
            try:
                tls.close()
            except OSError:
                pass

    def close_connections(self) -> None:
        """Drop every open keep-alive connection (their threads then end)."""
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:  # connection resets etc.: stay quiet
        pass


class SimServer:
    """Context manager running an :class:`ArmSimulator` over HTTPS on ``host:port`` (0 = random)."""

    def __init__(self, sim: "ArmSimulator", host: str = "127.0.0.1", port: int = 0) -> None:
        import trustme

        self.sim = sim
        self._tmp = tempfile.mkdtemp(prefix="armsim-")
        self._ca = trustme.CA()
        cert = self._ca.issue_cert(host, "localhost", "127.0.0.1")
        self.ca_path = os.path.join(self._tmp, "ca.pem")
        self._ca.cert_pem.write_to_path(self.ca_path)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        self._httpd = _TLSServer((host, port), sim, ctx)
        self.host = host
        self.port = self._httpd.server_address[1]
        self.endpoint = f"https://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "SimServer":
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="arm-simulator", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.close_connections()
        self._httpd.server_close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> "SimServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # --- wiring ------------------------------------------------------------------------------
    @property
    def identity_endpoint(self) -> str:
        return self.endpoint + IDENTITY_PATH

    def env(self) -> dict[str, str]:
        """Environment variables that make the SDK stack talk to this server (see module doc)."""
        return {
            "ARM_ENDPOINT": self.endpoint,
            "LOGS_ENDPOINT": self.endpoint,  # the Log Analytics query API is served here too
            "REQUESTS_CA_BUNDLE": self.ca_path,
            "IDENTITY_ENDPOINT": self.identity_endpoint,
            "IDENTITY_HEADER": self.sim.identity_header,
        }

    def client_kwargs(self) -> dict[str, Any]:
        """kwargs for any azure-mgmt client: ``base_url`` and ``connection_verify``."""
        return {"base_url": self.endpoint, "connection_verify": self.ca_path}


@contextmanager
def environment(values: dict[str, str | None]) -> Iterator[None]:
    """Environment variables for the block (None: unset), put back after it: what a real
    deployment would have (SimServer.env(), settings), for the demo's or a benchmark's duration."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            _set_env(name, value)
        yield
    finally:
        for name, value in saved.items():
            _set_env(name, value)


def _set_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
