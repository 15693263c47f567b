"""An issuer's JWKS endpoint over real HTTP on 127.0.0.1, for the identity tests.

It serves a replaceable document at ``/jwks.json`` and counts the fetches; ``delay`` makes
it slow, ``status`` makes it fail (503: the issuer is in trouble; 0: it resets the
connection instead of answering).
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class JwksServer:
    def __init__(self, delay: float = 0.0) -> None:
        self.document: dict[str, Any] = {"keys": []}
        self.delay = delay
        self.status = 200
        self.fetches = 0
        self._count = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path != "/jwks.json":
                    self.send_error(404)
                    return
                with outer._count:
                    outer.fetches += 1
                time.sleep(outer.delay)
                if outer.status == 0:  # an RST instead of an answer (SO_LINGER 0, then close)
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return
                if outer.status != 200:
                    self.send_error(outer.status)
                    return
                body = json.dumps(outer.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass  # keep test output quiet

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_port}/jwks.json"
        # A short poll interval keeps shutdown() (each test's teardown) quick.
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
