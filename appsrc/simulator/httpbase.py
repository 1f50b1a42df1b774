"""A stdlib HTTP/1.1 server on loopback in a daemon thread, shared by the simulators.

Keep-alive matters: httplib2 and requests reuse connections, and a benchmark paying a TCP
handshake per call would measure the simulator, not the client. Because keep-alive
handler threads outlive `shutdown()`, open connections are tracked and cut on `stop()`,
so a stopped server really refuses clients instead of serving them from idle threads.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        """No Nagle: a response written in two segments would otherwise wait ~40 ms for the
        client's delayed ACK on every keep-alive request."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format, *args):
        """Silence per-request stderr lines; the call log records what matters."""

    def _dispatch(self):
        self.server.service.handle(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 makes fifty simultaneous connects (the digest's
    # concurrent LLM calls) wait out 1 s SYN retransmits; real servers listen with thousands.
    request_queue_size = 256

    def __init__(self, address, service: LoopbackService):
        self.service = service
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class LoopbackService:
    """start()/stop()/context manager; `url` ends with a slash. A restart reuses the port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self._host = host
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}/"

    def start(self):
        if self._server is not None:
            return self
        self.stopping.clear()
        self._server = _Server((self._host, self._port), self)
        self._port = self._server.server_address[1]
        # A short poll interval keeps stop() fast; shutdown() waits for the loop to notice.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self.stopping.set()
        server.shutdown()
        server.server_close()
        server.cut_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def pause(self, seconds: float) -> None:
        """Sleep that ends early when the service stops, so stop() never waits on latency."""
        if seconds > 0:
            self.stopping.wait(seconds)

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    @staticmethod
    def read_body(request: BaseHTTPRequestHandler) -> bytes:
        length = int(request.headers.get("Content-Length") or 0)
        return request.rfile.read(length) if length else b""

    @staticmethod
    def respond(
        request: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            request.send_response(status)
            request.send_header("Content-Type", content_type)
            request.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                request.send_header(name, value)
            request.end_headers()
            request.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            request.close_connection = True

    @staticmethod
    def drop(request: BaseHTTPRequestHandler) -> None:
        """Close the connection without answering, like a load balancer timing out."""
        request.close_connection = True
        with contextlib.suppress(OSError):
            request.connection.shutdown(socket.SHUT_RDWR)
