"""External services for tests: a missing one skips locally and fails when CI=true."""
import os
import uuid
from contextlib import contextmanager

import pytest

POSTGRES_ADMIN_URL = os.environ.get(
    "SENDAPP_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def unavailable(what, error):
    """Fail in CI (the service is part of the machine); skip on a developer's laptop."""
    message = f"{what} is not reachable: {error}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def scratch_postgres_database():
    """Create a throw-away PostgreSQL database and yield its URL; drop it afterwards."""
    import psycopg2

    name = "sendapp_test_" + uuid.uuid4().hex[:12]
    try:
        admin = psycopg2.connect(POSTGRES_ADMIN_URL, connect_timeout=5)
    except psycopg2.OperationalError as error:
        unavailable("PostgreSQL", error)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
