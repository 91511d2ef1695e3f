"""A TCP relay that delays every chunk by half a round trip in each direction.

The kernel of these machines has no `netem`, so a slow link is simulated in
user space, between leo and the host's sshd: each chunk read from one side is
written to the other `rtt / 2` seconds later, in order. Bandwidth is not
limited and nothing is lost; only latency is added, which is what makes a
chatty protocol slow (SSH round trips: channel opens, exec requests, SFTP
acknowledgements).

    relay = SlowLink(("127.0.0.1", 2222), rtt=0.1)
    ... ssh -p relay.port 127.0.0.1 ...
    relay.close()
"""

from __future__ import annotations

import contextlib
import heapq
import socket
import threading
import time


class _Direction:
    """One direction of one connection: a reader stamps chunks, a writer sends them when due."""

    def __init__(self, src: socket.socket, dst: socket.socket, delay: float) -> None:
        self.src, self.dst, self.delay = src, dst, delay
        self.queue: list[tuple[float, int, bytes]] = []
        self.seq = 0
        self.ready = threading.Condition()
        self.eof = False
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._write, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data = self.src.recv(65536)
            except OSError:
                data = b""
            with self.ready:
                if data:
                    self.seq += 1
                    heapq.heappush(self.queue, (time.monotonic() + self.delay, self.seq, data))
                else:
                    self.eof = True
                self.ready.notify()
            if not data:
                return

    def _write(self) -> None:
        while True:
            with self.ready:
                while not self.queue and not self.eof:
                    self.ready.wait()
                if not self.queue:  # EOF and everything sent: pass the EOF on, late too
                    due, data = time.monotonic() + self.delay, b""
                else:
                    due, _, data = heapq.heappop(self.queue)
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            try:
                if data:
                    self.dst.sendall(data)
                else:
                    self.dst.shutdown(socket.SHUT_WR)
                    return
            except OSError:
                return


class SlowLink:
    def __init__(self, target: tuple[str, int], rtt: float) -> None:
        self.target = target
        self.rtt = rtt
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.connections = 0
        self._sockets: list[socket.socket] = []
        self._directions: list[_Direction] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            # The TCP handshake to the far side costs a round trip too.
            time.sleep(self.rtt)
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connections += 1
            self._sockets += [client, upstream]
            self._directions += [
                _Direction(client, upstream, self.rtt / 2),
                _Direction(upstream, client, self.rtt / 2),
            ]

    def close(self) -> None:
        """Deliver what is still on its way (a closing client's last bytes: the EOF
        that frees a lock on the host), then close both sides of every connection."""
        self.listener.close()
        deadline = time.monotonic() + self.rtt + 2
        while time.monotonic() < deadline and any(d.queue for d in self._directions):
            time.sleep(0.05)
        time.sleep(self.rtt / 2)  # the last chunk taken off a queue is being written
        for sock in self._sockets:
            # shutdown, not just close: it wakes a thread blocked on the socket and
            # sends the FIN now (a close would wait for that thread).
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
