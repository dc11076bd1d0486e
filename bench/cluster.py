"""The several-process configuration (issue 10): two `python app.py` processes behind the
shipped deploy/nginx.conf, on one PostgreSQL database and a Redis of their own.

The cluster is the one the live tests run (tests/support/cluster.py), so the benchmark
measures exactly the tested deployment. Every process of it (both servers and nginx's
master and worker) is pinned to the server core, like the one-process targets: the figures
show what the same core gives with two processes and a proxy, not more cores. CPU is their
sum (`ClusterProcess.pid` is a tuple; targets.cpu_seconds adds them up).

While a scenario runs, `LockWaits` samples PostgreSQL's pg_stat_activity every 10 ms and
counts the samples in which a backend of the database waited for an advisory lock: the
message writers' order lock (chat/writer.py) is the only one taken under load, so that
share is what the lock costs two processes.
"""
import os
import sys
import threading
import time
from pathlib import Path

from .targets import ROOT, children_of

sys.path.insert(0, str(ROOT / "tests"))  # the live tests' harness: support.cluster

from support.cluster import Cluster  # noqa: E402

SAMPLE_INTERVAL = 0.01  # seconds between pg_stat_activity samples


class ClusterProcess:
    """What the scenarios need of a server (url, pid, stop, log), for the whole cluster."""

    def __init__(self, folder, database_url, core, processes=2, env=None):
        self.cluster = Cluster(folder, database_url, processes=processes, env=env)
        self.core = core
        self.database_url = database_url
        self.url = None
        self.ca = None

    def start(self):
        self.cluster.start()
        self.url = self.cluster.proxy.url
        self.ca = self.cluster.proxy.cert_path
        if self.core is not None:
            for pid in self.pid:
                os.sched_setaffinity(pid, {self.core})
        return self

    @property
    def pid(self):
        """The servers' and nginx's (master and workers) pids."""
        nginx = self.cluster.proxy.pid
        return tuple([b.pid for b in self.cluster.backends] + [nginx] + children_of(nginx))

    def rss_kb(self):
        from .targets import rss_kb

        return sum(rss_kb(pid) for pid in self.pid)

    def stop(self, timeout=10.0):
        started = time.perf_counter()
        self.cluster.stop()
        return 0, time.perf_counter() - started

    def count_in_log(self, text):
        return sum(b.log_text().count(text) for b in self.cluster.backends)

    def sockets_per_process(self):
        """Socket.IO requests each server process has answered (which process got whom)."""
        return [b.log_text().count('"GET /socket.io/') for b in self.cluster.backends]


class LockWaits:
    """Samples of PostgreSQL backends waiting for an advisory lock, over a window."""

    def __init__(self, admin_url, database):
        self.admin_url = admin_url
        self.database = database
        self.samples = 0
        self.waiting_samples = 0
        self.waiters = 0
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join(10)

    def _run(self):
        import psycopg2

        connection = psycopg2.connect(self.admin_url, connect_timeout=5)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                while not self._stop.wait(SAMPLE_INTERVAL):
                    cursor.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                        "AND wait_event_type = 'Lock' AND wait_event = 'advisory'",
                        (self.database,))
                    waiting = cursor.fetchone()[0]
                    self.samples += 1
                    self.waiting_samples += waiting > 0
                    self.waiters += waiting
        finally:
            connection.close()

    def result(self):
        share = self.waiting_samples / self.samples if self.samples else None
        return {"samples": self.samples,
                "share_with_a_writer_waiting": None if share is None else round(share, 4),
                "mean_waiting_writers": round(self.waiters / self.samples, 3)
                if self.samples else None}
