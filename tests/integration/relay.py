"""A TCP relay on loopback that a test can cut: a component's store traffic goes through it, and cutting it is that
component losing the store while everything else keeps it.

TcpRelay(target_port) listens on a free port and forwards every connection to 127.0.0.1:target_port, one thread
per direction. cut() closes every open connection and makes new ones hang unanswered (they are accepted and
never served, as a silently dropping network would); heal() serves them again. close() stops it.
"""
import socket
import threading

from etcd_fixture import free_ports


class TcpRelay:
    def __init__(self, target_port):
        self.target_port = target_port
        self.port = free_ports(1)[0]
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._conns = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(128)
        self._listener.settimeout(0.2)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def _accept(self):
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self._conns.append(client)
            if self._cut.is_set():
                continue            # accepted, never answered: the caller times out
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns.append(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while not self._cut.is_set():
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        self._cut.set()
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def heal(self):
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:             # the hanging ones from the cut
            s.close()
        self._cut.clear()

    def close(self):
        self._closed.set()
        self.cut()
        self._listener.close()
        self._thread.join(5)
