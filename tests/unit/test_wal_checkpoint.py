"""SQLite checkpoints in a helper process (sendapp/wal_checkpoint.py): the real helper, on a
real WAL-mode database file, and the message writer that asks for them between its
transactions."""
import logging
import os
import shutil
import signal
import socket
import sqlite3
import threading

import pytest
from sqlalchemy import create_engine

from sendapp import wal_checkpoint
from sendapp.chat.service import writer as app_writer
from sendapp.chat.writer import MessageWriter
from sendapp.config import Config
from sendapp.extensions import db, socketio

from support.waiting import wait_for

from .test_message_writer import envelope, trio  # noqa: F401 - trio is a fixture

WAIT = 10.0  # seconds for the helper to checkpoint after an ack


@pytest.fixture
def database(tmp_path):
    """A WAL-mode SQLite file with an empty table, everything in the file itself."""
    path = str(tmp_path / "wal.sqlite3")
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE t (v TEXT)")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return path


@pytest.fixture
def checkpointer(database):
    found = wal_checkpoint.Checkpointer(database, every=0)
    yield found
    found.close()


@pytest.fixture
def writer_connection(database, checkpointer):
    connection = sqlite3.connect(database, isolation_level=None)
    checkpointer.prepare(connection)
    yield connection
    connection.close()


def pragma(connection, name):
    return connection.execute(f"PRAGMA {name}").fetchone()[0]


def rows_in_the_file_alone(path, tmp_path, table="t"):
    """What the database file holds without its WAL (a copy of the file alone)."""
    copy = tmp_path / "copy.sqlite3"
    shutil.copyfile(path, copy)
    alone = sqlite3.connect(copy)
    try:
        return alone.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    except sqlite3.OperationalError:  # not even the table yet
        return None
    finally:
        alone.close()


def insert(connection, count):
    for index in range(count):
        connection.execute("INSERT INTO t VALUES (?)", (f"row {index} " + "x" * 400,))


def test_the_writers_connection_never_checkpoints_by_itself(writer_connection, database,
                                                            tmp_path):
    assert pragma(writer_connection, "wal_autocheckpoint") == 0
    insert(writer_connection, 1200)  # past SQLite's 1,000 pages
    assert rows_in_the_file_alone(database, tmp_path) == 0


def test_a_due_checkpoint_copies_the_wal_into_the_database_file(writer_connection, checkpointer,
                                                                database, tmp_path):
    insert(writer_connection, 20)
    checkpointer.checkpoint_if_due(writer_connection)
    assert rows_in_the_file_alone(database, tmp_path) == 20
    assert checkpointer.process.poll() is None  # the helper stays for the next one


def test_a_checkpoint_that_is_not_due_does_nothing(writer_connection, database, tmp_path):
    patient = wal_checkpoint.Checkpointer(database, every=3600)
    try:
        insert(writer_connection, 20)
        patient.checkpoint_if_due(writer_connection)
        assert patient.process is None
        assert rows_in_the_file_alone(database, tmp_path) == 0
    finally:
        patient.close()


def test_the_wal_starts_over_after_each_checkpoint_and_stays_small(writer_connection,
                                                                   checkpointer, database):
    """The writer commits nothing during a checkpoint, so it copies the whole WAL and the
    next transaction writes the WAL from its beginning again."""
    sizes = []
    for _round in range(8):
        insert(writer_connection, 50)
        sizes.append(os.path.getsize(database + "-wal"))
        checkpointer.checkpoint_if_due(writer_connection)
    assert len(set(sizes[1:])) == 1  # each round overwrote the last: it did not append
    assert sizes[-1] < sizes[0] * 1.1


def test_the_helper_ends_when_closed_and_the_wal_goes_with_the_last_connection(
        database, checkpointer):
    connection = sqlite3.connect(database, isolation_level=None)
    checkpointer.prepare(connection)
    insert(connection, 5)
    checkpointer.checkpoint_if_due(connection)
    process = checkpointer.process
    checkpointer.close()
    connection.close()
    assert process.returncode == 0
    assert not os.path.exists(database + "-wal")  # no other process held the database open


def test_a_broken_helper_gives_the_checkpoints_back_to_the_connection(
        writer_connection, checkpointer, caplog):
    insert(writer_connection, 5)
    checkpointer.checkpoint_if_due(writer_connection)
    checkpointer.process.kill()
    checkpointer.process.wait()
    with caplog.at_level(logging.WARNING, logger="sendapp.wal_checkpoint"):
        checkpointer.checkpoint_if_due(writer_connection)  # no error for the writer
    assert "the checkpoint helper failed" in caplog.text
    assert checkpointer.failed and checkpointer.process is None
    assert pragma(writer_connection, "wal_autocheckpoint") == 1000
    checkpointer.checkpoint_if_due(writer_connection)
    assert checkpointer.process is None  # not started again


def test_a_helper_that_cannot_start_gives_the_checkpoints_back_too(writer_connection, database,
                                                                   monkeypatch):
    monkeypatch.setattr(wal_checkpoint.sys, "executable", "/nonexistent/python")
    unstartable = wal_checkpoint.Checkpointer(database, every=0)
    unstartable.prepare(writer_connection)
    unstartable.checkpoint_if_due(writer_connection)
    assert unstartable.failed
    assert pragma(writer_connection, "wal_autocheckpoint") == 1000


def test_only_a_sqlite_file_is_checkpointed_by_a_helper(tmp_path):
    path = tmp_path / "x.sqlite3"
    assert wal_checkpoint.database_file(create_engine(f"sqlite:///{path}"), "helper") \
        == str(path)
    assert wal_checkpoint.database_file(create_engine(f"sqlite:///{path}"), "commit") is None
    assert wal_checkpoint.database_file(create_engine("sqlite://"), "helper") is None
    assert wal_checkpoint.database_file(
        create_engine("postgresql+psycopg2://u@127.0.0.1/x"), "helper") is None


def test_the_setting_takes_helper_or_commit_only():
    base = {"SENDAPP_SECRET_KEY": "x"}
    assert Config(base).SQLITE_CHECKPOINTS == "helper"
    assert Config({**base, "SENDAPP_SQLITE_CHECKPOINTS": " Commit"}).SQLITE_CHECKPOINTS \
        == "commit"
    with pytest.raises(ValueError, match="SENDAPP_SQLITE_CHECKPOINTS must be one of helper, "
                                         "commit, got 'never'"):
        Config({**base, "SENDAPP_SQLITE_CHECKPOINTS": "never"})


# --- the message writer ------------------------------------------------------------------------
def checkpointing_writer(app):
    with app.app_context():
        path = wal_checkpoint.database_file(db.engine, "helper")
        return MessageWriter(db.engine, socketio.start_background_task, socketio.sleep, 512,
                             30.0, checkpointer=wal_checkpoint.Checkpointer(path, every=0))


def test_the_writer_checkpoints_between_its_transactions(app, trio, tmp_path):  # noqa: F811
    alice, bob, _carol = trio
    writer = checkpointing_writer(app)
    with app.app_context():
        path = wal_checkpoint.database_file(db.engine, "helper")
    try:
        assert writer.write(alice.id, envelope(app, alice, bob, "one")) is not None
        # The ack comes first; the checkpoint follows the transaction.
        assert wait_for(lambda: rows_in_the_file_alone(path, tmp_path, table="messages") == 1,
                        WAIT)
        process = writer.checkpointer.process
        assert process is not None and process.poll() is None
    finally:
        writer.close()
    assert process.returncode == 0  # closing the writer stops its helper


def test_the_writers_setting_never_reaches_the_pool(app, trio):  # noqa: F811
    alice, bob, _carol = trio
    writer = checkpointing_writer(app)
    writer.write(alice.id, envelope(app, alice, bob, "one"))
    writer.close()
    with app.app_context():
        for _connection in range(3):
            with db.engine.connect() as connection:
                assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000


def test_the_apps_writer_checkpoints_through_a_helper_on_a_sqlite_file(make_app):
    with make_app().app_context():
        assert app_writer().checkpointer is not None
    with make_app(SQLITE_CHECKPOINTS="commit").app_context():
        assert app_writer().checkpointer is None


@pytest.mark.parametrize("answer", ["before the close", "after the close"])
def test_the_helper_ends_quietly_when_the_server_closes_during_a_checkpoint(
        writer_connection, checkpointer, capfd, answer):
    """At shutdown the writer may be waiting for an answer when its channel closes: the
    answer then has nowhere to go (written before the close: the close resets the channel;
    after it: the write fails), and that must not print a traceback into the server's log."""
    insert(writer_connection, 5)
    checkpointer.checkpoint_if_due(writer_connection)  # the helper is up
    process, channel = checkpointer.process, checkpointer.channel
    if answer == "after the close":
        os.kill(process.pid, signal.SIGSTOP)
    channel.sendall(b"k")  # a checkpoint asked for, its answer never read
    if answer == "before the close":
        assert channel.recv(1, socket.MSG_PEEK) == b"k"
    closing = threading.Thread(target=checkpointer.close)
    closing.start()
    if answer == "after the close":
        assert wait_for(lambda: channel.fileno() == -1, WAIT)  # closed
        os.kill(process.pid, signal.SIGCONT)
    closing.join(WAIT)
    assert process.returncode == 0
    assert capfd.readouterr().err == ""
