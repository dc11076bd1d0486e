"""Fixtures that build on each other: app → client → make_user → make_friends → socket_client."""
import os

import pytest

from sendapp import create_app
from sendapp.chat.service import close_writer
from sendapp.config import TestingConfig
from sendapp.extensions import db, socketio

from support.people import https_client, register


def _make_app(tmp_path, **overrides):
    env = dict(os.environ)
    env.update({
        "SENDAPP_INSTANCE_PATH": str(tmp_path / "instance"),
        "SENDAPP_DATABASE_URL": f"sqlite:///{tmp_path / 'test.sqlite3'}",
        "SENDAPP_CERT_DIR": str(tmp_path / "certs"),
    })
    config = TestingConfig(env)
    config.RATELIMIT_ENABLED = overrides.pop("RATELIMIT_ENABLED", False)
    for name, value in overrides.items():
        setattr(config, name, value)
    app = create_app(config)
    with app.app_context():
        db.create_all()
    return app


@pytest.fixture
def make_app(tmp_path):
    """Build an app with config overrides (e.g. RATELIMIT_ENABLED=True)."""
    apps = []

    def build(**overrides):
        app = _make_app(tmp_path / f"app{len(apps)}", **overrides)
        apps.append(app)
        return app

    yield build
    for app in apps:
        with app.app_context():
            close_writer()  # and its checkpoint helper process, if a message started one
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return https_client(app)


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_user(app):
    """Register a person through the API, each with their own cookie jar."""

    def build(username):
        return register(https_client(app), username)

    return build


@pytest.fixture
def make_friends():
    """Befriend two people through the API (request + accept)."""

    def befriend(a, b):
        assert a.post("/api/friends", json={"username": b.username}).status_code == 201
        assert b.post(f"/api/friends/{a.id}/accept").status_code == 200

    return befriend


@pytest.fixture
def pair(make_user, make_friends):
    """Alice and Bob, friends."""
    alice, bob = make_user("alice"), make_user("bob")
    make_friends(alice, bob)
    return alice, bob


@pytest.fixture
def socket_client(app):
    """A Socket.IO test client logged in as a person (shares their cookie jar)."""
    clients = []

    def connect(person):
        sio = socketio.test_client(app, flask_test_client=person.client)
        clients.append(sio)
        return sio

    yield connect
    for sio in clients:
        if sio.is_connected():
            sio.disconnect()



@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With CI=true a skipped test is a failure: no service or browser may be missing in CI."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which counts as a failure: {report.longrepr}"


def pytest_collection_modifyitems(items):
    """Run the browser tests last: Playwright's sync API keeps an event loop running in the
    main thread until the session ends, and asyncio.run in later tests would refuse to start."""
    items.sort(key=lambda item: "/tests/browser/" in item.path.as_posix())
