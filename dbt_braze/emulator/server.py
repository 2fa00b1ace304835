"""HTTP plumbing: a threading HTTP/1.1 server on loopback whose handler hands every request to
the emulator's handler (replies.Handle)."""

from __future__ import annotations

import contextlib
import errno
import json
import socket
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from dbt_braze.emulator.replies import MAX_BODY_BYTES, Handle, Reply, message

# Draining an oversized body keeps the keep-alive connection usable; beyond this
# the emulator closes the connection instead of reading everything.
_MAX_DRAIN_BYTES = 64 * 1024 * 1024


class PortUnavailable(Exception):
    """The emulator cannot listen on its port: another program holds it, or it is not one this
    user may take."""

    def __init__(self, host: str, port: int, error: OSError) -> None:
        self.host = host
        self.port = port
        self.in_use = error.errno == errno.EADDRINUSE
        self.reason = error.strerror or str(error)
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.in_use:
            return f"port {self.port} on {self.host} is in use: {self.reason}"
        return f"cannot listen on port {self.port} on {self.host}: {self.reason}"


def make_server(handle: Handle, host: str, port: int) -> Any:
    """An HTTP server on `host`:`port` that answers every request with `handle`'s reply."""

    bind_host = "127.0.0.1" if host.lower() == "localhost" else host.strip("[]")
    family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 128
        # Idle keep-alive connections would otherwise make server_close() wait
        # for clients to hang up.
        block_on_close = False
        address_family = family

        def __init__(self) -> None:
            self.open_sockets: set[socket.socket] = set()
            self.sockets_lock = threading.Lock()
            super().__init__((bind_host, port), Handler)

        def server_bind(self) -> None:
            # HTTPServer.server_bind does a reverse DNS lookup; loopback needs none.
            socketserver.TCPServer.server_bind(self)
            self.server_name = bind_host
            self.server_port = self.server_address[1]

        def process_request(self, request: Any, client_address: Any) -> None:
            with self.sockets_lock:
                self.open_sockets.add(request)
            super().process_request(request, client_address)

        def shutdown_request(self, request: Any) -> None:
            with self.sockets_lock:
                self.open_sockets.discard(request)
            super().shutdown_request(request)

        def close_open_connections(self) -> None:
            with self.sockets_lock:
                sockets = list(self.open_sockets)
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

        def handle_error(self, request: Any, client_address: Any) -> None:
            # Clients hanging up mid-request are routine in fault drills.
            if isinstance(sys.exc_info()[1], OSError):
                return
            super().handle_error(request, client_address)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in two writes; with Nagle on, the second waits ~40 ms for the
        # client's delayed ACK on every keep-alive request.
        disable_nagle_algorithm = True
        server_version = "BrazeEmulator/1.0"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_PATCH(self) -> None:
            self._dispatch("PATCH")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        def _dispatch(self, method: str) -> None:
            try:
                raw = self._read_body()
            except ValueError as exc:
                self.close_connection = True
                reply = message(400, str(exc))
                reply.close = True
                self._send(reply)
                return
            headers = {key.lower(): value for key, value in self.headers.items()}
            try:
                reply = handle(method, self.path, headers, raw)
            except Exception as exc:  # an emulator bug must not hang the client
                reply = message(500, f"Emulator error: {type(exc).__name__}: {exc}")
            if reply.drop:
                # Processed, then the connection vanishes: the client sees a
                # connection error and cannot know the batch was applied.
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            self._send(reply)

        def _read_body(self) -> bytes | None:
            # Returns None when the body is over the limit; the body is drained so
            # the keep-alive connection stays in sync for the next request.
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                return self._read_chunked()
            length_header = self.headers.get("Content-Length")
            if length_header is None:
                return b""
            try:
                length = int(length_header)
            except ValueError:
                raise ValueError("Invalid Content-Length") from None
            if length < 0:
                raise ValueError("Invalid Content-Length")
            if length <= MAX_BODY_BYTES:
                return self.rfile.read(length)
            if length > _MAX_DRAIN_BYTES:
                self.close_connection = True
                return None
            left = length
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)
            return None

        def _read_chunked(self) -> bytes | None:
            parts: list[bytes] = []
            size_total = 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise ValueError("Invalid chunked body") from None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                size_total += size
                if size_total > _MAX_DRAIN_BYTES:
                    self.close_connection = True
                    return None
                chunk = self.rfile.read(size)
                self.rfile.readline(1024)
                if size_total <= MAX_BODY_BYTES:
                    parts.append(chunk)
            return b"".join(parts) if size_total <= MAX_BODY_BYTES else None

        def _send(self, reply: Reply) -> None:
            data = json.dumps(reply.payload).encode("utf-8") if reply.raw is None else reply.raw
            self.send_response(reply.status)
            for key, value in reply.headers.items():
                self.send_header(key, value)
            is_json = reply.raw is None or reply.raw.lstrip()[:1] in (b"{", b"[")
            self.send_header("Content-Type", "application/json" if is_json else "text/html")
            self.send_header("Content-Length", str(len(data)))
            if reply.close or self.close_connection:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)

    try:
        return Server()
    except OSError as exc:
        raise PortUnavailable(bind_host, port, exc) from exc
