"""Attachments: a per-user quota, and collection of what no one can read or nothing points to."""
import io
import os
import time
from pathlib import Path

import pytest

from sendapp.blobs import collector
from sendapp.extensions import db
from sendapp.models import Blob
from support.people import https_client, register

OLD = time.time() - 2 * collector.UPLOAD_GRACE_SECONDS


def upload(person, friend, size):
    return person.post(f"/api/blobs?to={friend.id}", data=os.urandom(size),
                       content_type="application/octet-stream")


def files_in(app):
    return sorted(p.name for p in Path(app.config["BLOB_DIR"]).rglob("*") if p.is_file())


@pytest.fixture
def trio_on(make_app, make_friends):
    """Build an app with settings, then alice befriending bob and eve."""

    def build(**settings):
        app = make_app(**settings)
        alice, bob, eve = (register(https_client(app), name) for name in ("alice", "bob", "eve"))
        make_friends(alice, bob)
        make_friends(alice, eve)
        return app, alice, bob, eve

    return build


def test_upload_beyond_the_quota_is_refused_with_quota_exceeded(trio_on):
    app, alice, bob, eve = trio_on(BLOB_QUOTA_BYTES=2500, MAX_BLOB_BYTES=2000)
    assert upload(alice, bob, 1000).status_code == 201
    assert upload(alice, eve, 1000).status_code == 201
    refused = upload(alice, bob, 600)
    assert refused.status_code == 413
    assert refused.get_json()["error"] == "quota_exceeded"
    assert "500 bytes left" in refused.get_json()["message"]
    assert upload(alice, bob, 500).status_code == 201  # exactly what is left
    assert upload(bob, alice, 2001).get_json()["error"] == "too_large"  # per-file limit
    assert upload(bob, alice, 2000).status_code == 201  # bob's quota is his own
    with app.app_context():
        assert db.session.query(Blob).count() == 4
    assert len(files_in(app)) == 4  # nothing left behind by the refusals


def test_streamed_upload_without_length_stops_at_the_quota(trio_on):
    app, alice, bob, _eve = trio_on(BLOB_QUOTA_BYTES=1500, MAX_BLOB_BYTES=2000)
    assert upload(alice, bob, 1000).status_code == 201

    response = alice.client.post(  # chunked: no Content-Length, the stream ends by itself
        f"/api/blobs?to={bob.id}", input_stream=io.BytesIO(b"x" * 1000),
        environ_overrides={"wsgi.input_terminated": True},
        headers={**alice.headers(), "Content-Type": "application/octet-stream"})
    assert response.status_code == 413 and response.get_json()["error"] == "quota_exceeded"
    assert len(files_in(app)) == 1


def test_unfriending_makes_attachments_unreadable_and_collectable(trio_on):
    app, alice, bob, eve = trio_on(BLOB_QUOTA_BYTES=1500)
    kept = upload(alice, eve, 500).get_json()["blob"]
    dropped = upload(alice, bob, 1000).get_json()["blob"]
    assert upload(alice, bob, 100).get_json()["error"] == "quota_exceeded"
    assert alice.delete(f"/api/friends/{bob.id}").status_code == 204
    assert bob.get(f"/api/blobs/{dropped}").status_code == 403  # as history: friends only
    with app.app_context():
        counts = collector.collect()
    assert counts == {"unreadable": 1, "rows_without_file": 0, "files_without_row": 0}
    assert files_in(app) == [kept]
    assert eve.get(f"/api/blobs/{kept}").status_code == 200
    assert upload(alice, eve, 1000).status_code == 201  # the quota is free again


def test_collection_removes_leftovers_on_disk_and_rows_without_files(app, make_user,
                                                                     make_friends):
    alice, bob = make_user("alice"), make_user("bob")
    make_friends(alice, bob)
    kept = upload(alice, bob, 100).get_json()["blob"]
    lost = upload(alice, bob, 100).get_json()["blob"]
    root = Path(app.config["BLOB_DIR"])
    (root / lost[:2] / lost).unlink()  # the file vanished; its row stays
    stray_old = root / "zz" / ("z" * 22)  # a file whose upload never committed its row
    temp_old = root / "zz" / ".upload-abandoned"  # an upload that died mid-stream
    stray_new = root / "yy" / ("y" * 22)  # an upload in progress right now
    for path in (stray_old, temp_old, stray_new):
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"ciphertext")
    for path in (stray_old, temp_old):
        os.utime(path, (OLD, OLD))
    with app.app_context():
        counts = collector.collect()
        assert db.session.get(Blob, lost) is None and db.session.get(Blob, kept) is not None
    assert counts == {"unreadable": 0, "rows_without_file": 1, "files_without_row": 2}
    assert files_in(app) == sorted([kept, stray_new.name])
    assert bob.get(f"/api/blobs/{kept}").status_code == 200


def test_deleted_account_leaves_no_blob_rows_behind(app, make_user, make_friends, runner):
    alice, bob = make_user("alice"), make_user("bob")
    make_friends(alice, bob)
    upload(bob, alice, 100)
    result = runner.invoke(args=["users", "delete", "alice", "--yes"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.query(Blob).count() == 0
    assert files_in(app) == []


def test_flask_blobs_gc_command(app, make_user, make_friends, runner):
    alice, bob = make_user("alice"), make_user("bob")
    make_friends(alice, bob)
    upload(alice, bob, 100)
    alice.delete(f"/api/friends/{bob.id}")
    stray = Path(app.config["BLOB_DIR"]) / "zz" / ("z" * 22)
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"x")
    result = runner.invoke(args=["blobs", "gc", "--grace", "0"])
    assert result.exit_code == 0, result.output
    assert "Removed 1 attachment(s) no one can read any more" in result.output
    assert "1 file(s) without a row" in result.output
    assert files_in(app) == []
