"""A small round-robin TCP proxy on loopback, as a load balancer in front of several
`tokenboard serve` processes: each new connection goes to the next backend that accepts
a connection (a dead one is skipped); bytes are copied both ways until either side
closes."""

from __future__ import annotations

import itertools
import socket
import threading


class RoundRobinProxy:
    def __init__(self, ports: list[int]) -> None:
        self.ports = list(ports)
        self._turn = itertools.count()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._closed = threading.Event()

    def start(self) -> RoundRobinProxy:
        threading.Thread(target=self._accept, daemon=True, name="proxy").start()
        return self

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _upstream(self) -> socket.socket | None:
        for _ in range(len(self.ports)):
            port = self.ports[next(self._turn) % len(self.ports)]
            try:
                return socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:  # that backend is down: try the next one
                continue
        return None

    def _serve(self, client: socket.socket) -> None:
        upstream = self._upstream()
        if upstream is None:
            client.close()
            return
        upstream.settimeout(None)
        back = threading.Thread(target=self._copy, args=(upstream, client), daemon=True)
        back.start()
        self._copy(client, upstream)
        back.join()
        client.close()
        upstream.close()

    @staticmethod
    def _copy(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        for sock, how in ((target, socket.SHUT_WR), (source, socket.SHUT_RD)):
            try:
                sock.shutdown(how)
            except OSError:
                pass

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
