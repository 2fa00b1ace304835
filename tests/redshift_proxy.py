"""A loopback front door that lets Redshift's driver talk to a PostgreSQL server (a test tool).

Redshift speaks PostgreSQL's wire protocol, and `redshift_connector` (dbt-redshift's driver)
gets through to PostgreSQL 15 but for three things, each measured (docs/redshift-on-postgres.md):

- its start-up packet carries `client_protocol_version`, `driver_version`, `os_version` and
  `driver_discovery_version`, which PostgreSQL refuses (`FATAL: unrecognized configuration
  parameter "client_protocol_version"`): they are left out;
- it reads the SASL mechanisms of a SCRAM request up to the message's last byte, so the list's
  terminating empty name reaches `scramp` as a mechanism (`The mechanism name is not
  supported`): the terminator is dropped;
- it parses `server_version` as a version number, and a distribution's suffix (`15.18 (Debian
  15.18-0+deb12u1)`) is none (`InvalidVersion`): only the number is passed on.

Nothing else is touched: after the server's first ReadyForQuery (or error), bytes pass through
unchanged both ways. SQL is never rewritten, so what runs on the server is what dbt-redshift
and dbt-braze sent.
"""

from __future__ import annotations

import socket
import struct
import threading
from contextlib import suppress

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102
# Start-up parameters of redshift_connector that only Redshift knows.
REDSHIFT_ONLY_PARAMETERS = frozenset(
    {b"client_protocol_version", b"driver_version", b"os_version", b"driver_discovery_version"}
)
AUTHENTICATION_SASL = 10


class RedshiftProxy:
    """Listens on a free loopback port and forwards each connection to `upstream`."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.host, self.port = self._listener.getsockname()[:2]
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def close(self) -> None:
        with suppress(OSError):
            self._listener.close()
        with self._lock:
            for sock in self._open:
                with suppress(OSError):
                    sock.close()
            self._open.clear()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.add(sock)

    def _serve(self, client: socket.socket) -> None:
        self._track(client)
        server: socket.socket | None = None
        try:
            # Small messages go at once both ways, as they would without the proxy in between
            # (with Nagle's algorithm each round trip waits for a delayed acknowledgement).
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            startup = _read_startup(client)
            if startup is None:
                return
            server = socket.create_connection(self.upstream, timeout=10)
            server.settimeout(None)
            server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._track(server)
            server.sendall(startup)
            if struct.unpack("!i", startup[4:8])[0] == CANCEL_REQUEST:
                return
            _relay_until_ready(server, client)
            to_server = threading.Thread(target=_pipe, args=(client, server), daemon=True)
            to_server.start()
            _pipe(server, client)
            to_server.join()
        except (OSError, EOFError):
            pass
        finally:
            for sock in (client, server):
                if sock is not None:
                    with suppress(OSError):
                        sock.close()
                    with self._lock:
                        self._open.discard(sock)


def _read_startup(client: socket.socket) -> bytes | None:
    """The client's start-up (or cancel) message, Redshift-only parameters left out; an SSL or
    GSS encryption request is declined first, as a server without them does."""
    while True:
        length = struct.unpack("!i", _read_exactly(client, 4))[0]
        body = _read_exactly(client, length - 4)
        code = struct.unpack("!i", body[:4])[0]
        if code in (SSL_REQUEST, GSSENC_REQUEST):
            client.sendall(b"N")
            continue
        if code == CANCEL_REQUEST:
            return struct.pack("!i", length) + body
        fields = body[4:].split(b"\0")[:-2]  # name, value, ..., then the closing empty name
        kept = b"".join(
            name + b"\0" + value + b"\0"
            for name, value in zip(fields[::2], fields[1::2], strict=True)
            if name not in REDSHIFT_ONLY_PARAMETERS
        )
        message = body[:4] + kept + b"\0"
        return struct.pack("!i", len(message) + 4) + message


def _relay_until_ready(server: socket.socket, client: socket.socket) -> None:
    """The server's messages up to its first ReadyForQuery or error, two of them adjusted;
    the client's answers (passwords) travel through the pipe started after, so until then
    they are relayed here."""
    while True:
        header = _read_exactly(server, 5)
        kind = header[:1]
        body = _read_exactly(server, struct.unpack("!i", header[1:])[0] - 4)
        if kind == b"R" and struct.unpack("!i", body[:4])[0] == AUTHENTICATION_SASL:
            # mechanism names, each ended by a zero byte, then a zero byte ending the list
            body = body[:-1] if body.endswith(b"\0\0") else body
        elif kind == b"S" and body.startswith(b"server_version\0"):
            version = body[len(b"server_version\0") : -1].split(b" ")[0]
            body = b"server_version\0" + version + b"\0"
        client.sendall(kind + struct.pack("!i", len(body) + 4) + body)
        if kind in (b"Z", b"E"):
            return
        if kind == b"R" and struct.unpack("!i", body[:4])[0] not in (0, 12):
            _relay_message(client, server)  # the client's answer to an authentication request


def _relay_message(source: socket.socket, destination: socket.socket) -> None:
    header = _read_exactly(source, 5)
    body = _read_exactly(source, struct.unpack("!i", header[1:])[0] - 4)
    destination.sendall(header + body)


def _pipe(source: socket.socket, destination: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            destination.sendall(data)
    except OSError:
        pass
    finally:
        with suppress(OSError):
            destination.shutdown(socket.SHUT_WR)


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return bytes(data)
