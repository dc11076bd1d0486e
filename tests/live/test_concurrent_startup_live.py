"""Two real server processes started at the same moment on one fresh database (issue 10).

Without a lock both ran Alembic's upgrade and one died on `alembic_version`'s unique key.
Each case runs twice: started together (whatever the timing gives), and with the test
holding the migration lock first (sendapp/schema_lock.py) so that both processes are
certainly inside the race, waiting, when it is let go. Both must then serve, with the
schema at head and one revision row.

- PostgreSQL (with a Redis queue, as several processes run): the start-up warning about
  in-memory rate limits appears once in the process that keeps them in memory, and not
  in the one with shared storage.
- SQLite with one shared instance folder and no SENDAPP_SECRET_KEY: both processes make or
  read the first-start key at once and must end with the same one (a session cookie from
  one process is accepted by the other).
"""
import fcntl
import os
import sqlite3
import threading
import time

import psycopg2
import pytest
from alembic.script import ScriptDirectory

from sendapp.config import ROOT
from sendapp.schema_lock import MIGRATION_LOCK_ID, WAITING
from support.live_server import LiveServer
from support.live_people import register_live
from support.services import scratch_postgres_database
from support.redis_server import redis_server

HEAD = ScriptDirectory(str(ROOT / "migrations")).get_current_head()
START_BOUND = 60.0  # seconds for both processes to be ready, lock wait included
WAIT_BOUND = 30.0  # seconds for both processes to reach the held lock
LIMITS_WARNING = "each process counts its own rate limits"


def start_together(servers):
    """Start every server from its own thread at one barrier; answer (threads, errors)."""
    barrier = threading.Barrier(len(servers))
    errors = []

    def run(server):
        barrier.wait()
        try:
            server.start()
        except Exception as error:  # noqa: BLE001 - asserted on by the test
            errors.append(error)

    threads = [threading.Thread(target=run, args=(server,), daemon=True) for server in servers]
    for thread in threads:
        thread.start()
    return threads, errors


def finish_starting(threads, errors):
    deadline = time.monotonic() + START_BOUND
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))
    assert not any(thread.is_alive() for thread in threads), "a server never became ready"
    assert errors == []


def wait_until_both_wait(servers):
    """Both processes reached the lock the test holds (and neither is ready nor dead)."""
    deadline = time.monotonic() + WAIT_BOUND
    while time.monotonic() < deadline:
        exited = [server for server in servers if server.process is not None
                  and server.process.poll() is not None]
        assert not exited, [server.log_text() for server in exited]
        if all(WAITING in server.log_text() for server in servers):
            break
        time.sleep(0.05)
    else:
        pytest.fail("the servers did not wait for the migration lock:\n"
                    + "\n".join(server.log_text() for server in servers))
    assert not any(server.ready_line in server.log_text() for server in servers)


def assert_clean_logs(servers):
    for server in servers:
        log = server.log_text()
        assert "Traceback" not in log and "UniqueViolation" not in log, log


def register_on(server, username):
    """Register over HTTPS; answer the session cookie as a Cookie header value."""
    session = register_live(server, username).devices[0]
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in session.cookies)


def me_on(server, cookie):
    return server.http_session().get(server.url + "/api/me", headers={"Cookie": cookie},
                                     timeout=10)


def postgres_revisions(url):
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT version_num FROM alembic_version")
            return [row[0] for row in cursor.fetchall()]
    finally:
        connection.close()


@pytest.mark.parametrize("lock_held", [False, True], ids=["together", "lock-held"])
def test_two_processes_start_together_on_a_fresh_postgres_database(tmp_path, lock_held):
    redis_process, queue = redis_server(tmp_path)
    servers = []
    try:
        with scratch_postgres_database() as url:
            shared = {"SENDAPP_DATABASE_URL": url, "SENDAPP_MESSAGE_QUEUE": queue,
                      "SENDAPP_RATELIMIT": "on", "SENDAPP_SECRET_KEY": "one-key-for-both"}
            shared_limits = {**shared, "SENDAPP_RATELIMIT_STORAGE": queue.rsplit("/", 1)[0] + "/1"}
            servers = [LiveServer(tmp_path / "a", env=shared, startup_timeout=START_BOUND),
                       LiveServer(tmp_path / "b", env=shared_limits, startup_timeout=START_BOUND)]
            holder = psycopg2.connect(url)
            holder.autocommit = True
            try:
                if lock_held:
                    with holder.cursor() as cursor:
                        cursor.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
                threads, errors = start_together(servers)
                if lock_held:
                    wait_until_both_wait(servers)
                    with holder.cursor() as cursor:
                        cursor.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_ID,))
                finish_starting(threads, errors)
            finally:
                holder.close()
            assert postgres_revisions(url) == [HEAD]
            assert_clean_logs(servers)
            cookie = register_on(servers[0], "alice")
            assert me_on(servers[1], cookie).json()["user"]["username"] == "alice"
            assert servers[0].log_text().count(LIMITS_WARNING) == 1
            assert LIMITS_WARNING not in servers[1].log_text()
    finally:
        for server in servers:
            server.stop()
        redis_process.kill()
        redis_process.wait(10)


@pytest.mark.parametrize("lock_held", [False, True], ids=["together", "lock-held"])
def test_two_processes_sharing_an_instance_folder_start_with_one_secret_key(tmp_path, lock_held):
    instance = (tmp_path / "shared-instance").resolve()  # as the server resolves it
    shared = {"SENDAPP_INSTANCE_PATH": str(instance), "SENDAPP_SECRET_KEY": None}
    servers = [LiveServer(tmp_path / name, env=shared, startup_timeout=START_BOUND)
               for name in ("a", "b")]
    database = instance / "sendapp.sqlite3"
    try:
        lock = None
        if lock_held:
            instance.mkdir(mode=0o700)
            lock = os.open(f"{database}.migrate-lock", os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            threads, errors = start_together(servers)
            if lock_held:
                wait_until_both_wait(servers)
                fcntl.flock(lock, fcntl.LOCK_UN)
            finish_starting(threads, errors)
        finally:
            if lock is not None:
                os.close(lock)
        with sqlite3.connect(database) as connection:
            revisions = [row[0] for row in connection.execute(
                "SELECT version_num FROM alembic_version")]
        assert revisions == [HEAD]
        assert_clean_logs(servers)
        assert len((instance / "secret_key").read_text()) == 64
        assert not [name for name in os.listdir(instance) if name.startswith(".secret_key")]
        cookie = register_on(servers[0], "alice")  # signed with the first process's key
        assert me_on(servers[1], cookie).json()["user"]["username"] == "alice"
        assert LIMITS_WARNING not in servers[0].log_text()  # no queue: nothing to warn about
    finally:
        for server in servers:
            server.stop()
