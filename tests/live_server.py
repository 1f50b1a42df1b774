"""A WSGI app served by waitress on a free loopback port, in a thread, for the tests that need a
real HTTP server (a browser, concurrent clients)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def served(app, *, threads: int = 4) -> Iterator[str]:
    """Yields the server's base URL; stops it cleanly on the way out. The sockets are closed from
    the server's own loop (closing them from here would race its `select`, which then fails on a
    closed descriptor), and once none is left the loop returns, kept-alive connections included."""
    import waitress
    from waitress import wasyncore

    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=threads)
    loop = threading.Thread(target=server.run, name="waitress-loop", daemon=True)
    loop.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.task_dispatcher.shutdown()
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        loop.join(timeout=10)
        assert not loop.is_alive(), "the test server's loop did not stop"
