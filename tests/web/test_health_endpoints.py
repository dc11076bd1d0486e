"""/healthz and /readyz through Flask's test client: answers, no details, no database for
liveness, the database down and draining as 503, no rate limit."""
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import event

from sendapp.extensions import db
from sendapp.health.readiness import readiness
from support.people import https_client


def _delete_database(app):
    """Remove the app's SQLite file (and its WAL files) as an unmounted disk would."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
        path = Path(db.engine.url.database)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{path}{suffix}"):
            os.remove(f"{path}{suffix}")
    return path


def test_healthz_answers_alive_without_touching_the_database(app):
    statements = []
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute",
                     lambda *args: statements.append(args[2]))
    person = https_client(app)
    answer = person.get("/healthz")
    assert answer.status_code == 200
    assert answer.get_json() == {"status": "alive"}
    assert answer.headers["Cache-Control"] == "no-store"
    assert statements == []


def test_healthz_answers_with_the_database_gone(app):
    path = _delete_database(app)
    assert https_client(app).get("/healthz").status_code == 200
    assert not path.exists()  # nothing recreated it


def test_readyz_answers_ready_when_the_database_answers(client):
    answer = client.get("/readyz")
    assert answer.status_code == 200
    assert answer.get_json() == {"status": "ready"}


def test_readyz_answers_503_naming_only_the_database_when_it_is_gone(app):
    path = _delete_database(app)
    answer = https_client(app).get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json() == {"status": "not_ready", "failing": ["database"]}
    assert not path.exists()  # the probe opens the file read-write, never creates it


def test_readyz_answers_503_draining_once_the_process_drains(app, client):
    assert client.get("/readyz").status_code == 200
    readiness(app).drain()
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json() == {"status": "not_ready", "failing": ["draining"]}
    assert client.get("/healthz").status_code == 200  # still alive while draining


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_needs_no_login_and_no_csrf_and_is_not_rate_limited(make_app, path):
    # A default limit on every route: a proxy polling from one address must never meet it.
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_DEFAULT="3/minute")
    client = https_client(app)  # no cookie, no CSRF token
    answers = [client.get(path).status_code for _ in range(60)]
    assert answers == [200] * 60
    assert [client.get("/api/csrf").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_readyz_probes_the_database_at_most_once_per_second(app, client):
    calls = []
    probes = readiness(app).probes
    name, probe = probes[0]
    probes[0] = (name, lambda: calls.append(1) or probe())
    for _ in range(30):
        assert client.get("/readyz").status_code == 200
    assert len(calls) == 1


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_health_answers_only_get(client, method):
    assert getattr(client, method)("/readyz").status_code == 405


def test_readyz_names_the_queue_when_redis_does_not_answer(make_app):
    from support.live_server import free_port

    app = make_app(MESSAGE_QUEUE=f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    answer = https_client(app).get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json() == {"status": "not_ready", "failing": ["queue"]}
    assert b"hunter2" not in answer.data and b"127.0.0.1" not in answer.data


def test_database_probe_answers_on_postgresql_and_fails_fast_on_a_closed_port():
    from sqlalchemy.engine import make_url

    from sendapp.config import _database_url
    from sendapp.health.readiness import DB_TIMEOUT, database_probe
    from support.live_server import free_port
    from support.services import scratch_postgres_database

    with scratch_postgres_database() as url:
        assert database_probe(make_url(_database_url(url)))() is True
    closed = make_url(f"postgresql+psycopg2://nobody@127.0.0.1:{free_port()}/none")
    started = time.monotonic()
    with pytest.raises(Exception):
        database_probe(closed)()
    assert time.monotonic() - started < DB_TIMEOUT + 1
