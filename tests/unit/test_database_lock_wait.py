"""database.patiently: a locked database is waited for with the cooperative sleep, up to a bound."""
import sqlite3

import pytest

from sendapp.database import is_locked, patiently


class Flaky:
    """A statement that finds the database locked `times` times, then succeeds."""

    def __init__(self, times, error="database is locked"):
        self.left, self.error, self.calls = times, error, 0

    def __call__(self):
        self.calls += 1
        if self.left:
            self.left -= 1
            raise sqlite3.OperationalError(self.error)
        return "done"


def test_locked_statement_is_retried_with_the_given_sleep():
    naps = []
    statement = Flaky(3)
    assert patiently(statement, naps.append, wait_seconds=5) == "done"
    assert statement.calls == 4
    assert naps == [0.02, 0.04, 0.08]  # yields to the event loop, backing off


def test_lock_that_outlasts_the_bound_raises_the_lock_error():
    naps = []
    with pytest.raises(sqlite3.OperationalError) as raised:
        patiently(Flaky(10**6), naps.append, wait_seconds=0)
    assert is_locked(raised.value) and naps == []


def test_other_errors_are_not_retried():
    naps = []
    statement = Flaky(1, error="no such table: users")
    with pytest.raises(sqlite3.OperationalError):
        patiently(statement, naps.append, wait_seconds=5)
    assert statement.calls == 1 and naps == []
