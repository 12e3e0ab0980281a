"""The HTTP side of a standalone `riskstream ingest`: ``/metrics``, ``/healthz``, ``/readyz``.

A small threaded server from the standard library on a loopback port (``--metrics-port``),
so that a supervisor can probe ingest as it probes `riskstream serve`. It serves nothing
else and reads nothing from requests but the path.
"""

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

Readiness = Callable[[], tuple[bool, dict[str, Any]]]


def start_probe_server(
    host: str, port: int, registry: CollectorRegistry, readiness: Readiness
) -> ThreadingHTTPServer:
    """Serve in a daemon thread until ``shutdown()``; the server's port is its address[1]."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._send(200, b'{"status":"alive"}', "application/json")
            elif path == "/readyz":
                ready, body = readiness()
                self._send(200 if ready else 503, orjson.dumps(body), "application/json")
            else:
                self._send(404, b'{"detail":"not found"}', "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # probes every few seconds would flood the log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="probe-http", daemon=True).start()
    return server
