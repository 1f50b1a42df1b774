"""`python -m appsrc serve`: waitress in front of the app, the worker in a daemon thread."""

from __future__ import annotations

import logging
import signal

import waitress

from appsrc.web.app import create_app
from appsrc.worker import Worker

log = logging.getLogger(__name__)


def serve(runtime) -> int:
    app = create_app(runtime)
    worker = Worker(runtime)
    thread = worker.start_thread()
    server = waitress.create_server(
        app, host=runtime.settings.host, port=runtime.settings.port, threads=8, ident="ir-mail-desk"
    )

    def stop(signum, _frame):
        log.info("signal %s received: stopping", signal.Signals(signum).name)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    log.info("dashboard on http://%s:%s/", runtime.settings.host, runtime.settings.port)
    try:
        server.run()
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        server.close()
        worker.stop_event.set()
        thread.join(timeout=30)
    return 0
