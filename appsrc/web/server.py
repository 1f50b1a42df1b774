"""`python -m appsrc serve`: waitress in front of the app, the worker in a daemon thread unless
worker processes run on their own (CRM_EMBEDDED_WORKER=off)."""

from __future__ import annotations

import logging
import signal

import waitress

from appsrc.store.leases import AnotherWorkerRunning
from appsrc.web.app import create_app
from appsrc.worker import Worker

log = logging.getLogger(__name__)


def serve(runtime) -> int:
    app = create_app(runtime)
    worker, thread = None, None
    if runtime.settings.embedded_worker:
        worker = Worker(runtime)
        try:
            thread = worker.start_thread()
        except AnotherWorkerRunning as exc:
            log.error("the embedded worker did not start: %s", exc)
            worker = None
    else:
        log.info("no embedded worker (CRM_EMBEDDED_WORKER=off): capture and the digest run in worker processes")
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
        if worker is not None and thread is not None:
            worker.stop_event.set()
            thread.join(timeout=30)
    return 0
