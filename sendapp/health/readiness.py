"""Readiness: may a proxy send this process new connections?

Not while it drains (app.py flips it first thing on SIGTERM), and not while the database or
the message queue does not answer. The probes run at most once per CACHE_SECONDS whatever
the request rate (the endpoint needs no login and is not rate limited, so a flood of
/readyz costs one `SELECT 1` and one PING a second), each bounded by a short timeout, on
connections of their own: a pool busy with messages neither delays nor fails the check.

What /readyz says names only what fails ("draining", "database", "queue"); the reasons go
to the log, once per change.
"""
import logging
import threading
import time

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from ..database import sqlite_file

log = logging.getLogger(__name__)

CACHE_SECONDS = 1.0  # a result is reused this long
DB_TIMEOUT = 2  # seconds to connect and to run the probe (libpq's connect_timeout minimum)
SQLITE_TIMEOUT = 0.2  # seconds SQLite may wait for a lock (WAL readers never need to)
_EXTENSION = "sendapp_readiness"


class Readiness:
    """What stands between this process and new traffic, probed at most once per `cache` s.

    :param probes: (name, callable) pairs; a probe answers True when its part works and
        False or an exception when not.
    """

    def __init__(self, probes, cache=CACHE_SECONDS, clock=time.monotonic):
        self.probes = list(probes)
        self.cache = cache
        self.clock = clock
        self.draining = False
        self._lock = threading.Lock()
        self._checked_at = None
        self._failing = []

    def drain(self):
        """From now on answer "draining" (the process is stopping; never undone)."""
        self.draining = True

    def failing(self):
        """The names of what is not ready, e.g. ["database"]; [] when ready."""
        if self.draining:
            return ["draining"]
        with self._lock:  # one probe run at a time; the others reuse its result
            if self.draining:
                return ["draining"]
            if self._checked_at is None or self.clock() - self._checked_at >= self.cache:
                failing = [name for name, probe in self.probes if not _passes(name, probe)]
                if failing != self._failing:
                    if failing:
                        log.warning("not ready: %s does not answer", ", ".join(failing))
                    else:
                        log.warning("ready again")
                self._failing, self._checked_at = failing, self.clock()
            return list(self._failing)


def _passes(name, probe):
    try:
        return bool(probe())
    except Exception as error:  # noqa: BLE001 - any failure means "not ready"
        log.debug("readiness probe %s failed: %s", name, error.__class__.__name__)
        return False


def database_probe(url):
    """A callable running `SELECT 1` on a new connection with short timeouts.

    :param url: the app engine's SQLAlchemy URL. A SQLite file is opened read-write without
        being created, so a missing or unmounted database fails instead of starting empty.
    """
    connect_args = {}
    backend = url.get_backend_name()
    if backend == "postgresql":
        connect_args = {"connect_timeout": DB_TIMEOUT,
                        "options": f"-c statement_timeout={DB_TIMEOUT * 1000}"}
    elif backend == "sqlite":
        connect_args = {"timeout": SQLITE_TIMEOUT}
        path = sqlite_file(url)
        if path is not None:
            path = path.replace("%", "%25").replace("?", "%3F").replace("#", "%23")
            url = url.set(database=f"file:{path}", query={"mode": "rw", "uri": "true"})
    engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)

    def probe():
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True

    return probe


def queue_probe(manager):
    """A callable that is False while the queue link is down, else PINGs through it."""

    def probe():
        return manager.link.up and manager.probe()

    return probe


def install(app, server):
    """Give the app its Readiness: the database and, with a Redis queue, the queue link.

    :param server: the app's socketio.Server (its client manager holds the queue link).
    """
    probes = [("database", database_probe(make_url(app.config["SQLALCHEMY_DATABASE_URI"])))]
    if getattr(server.manager, "link", None) is not None:
        probes.append(("queue", queue_probe(server.manager)))
    app.extensions[_EXTENSION] = Readiness(probes)


def readiness(app):
    """This app's Readiness (see `install`)."""
    return app.extensions[_EXTENSION]
