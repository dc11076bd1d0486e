"""Concurrent senders against the real server process, on SQLite and on PostgreSQL.

Three friends with two devices each. Every message is sent twice with the same cid, once
from each of the sender's two sockets at the same moment (an outbox resending on a second
device), while the other people do the same. The write path (one writer, group commit,
`ON CONFLICT DO NOTHING`) must store each cid once, ack both sends with its id, and relay it
to every socket of the pair: once per send at most (a retried cid is relayed again, since
the process that stored it may have died before relaying it; receivers de-duplicate by id),
every copy the same message.
"""
import collections
import concurrent.futures
import itertools
import threading
import time

import pytest
from sqlalchemy import create_engine, text

from sendapp.config import _database_url
from support.live_people import add_device, befriend_live, connect_socket, register_live
from support.messages import text_envelope
from support.services import scratch_postgres_database
from support.waiting import wait_for

USERS = 3
MESSAGES = 60  # per sender, each sent from both of its devices
BUDGET = 120.0  # seconds for all sends; a sender stops early past it (and the test says so)
ACK_WAIT = 20.0
DELIVERY_WAIT = 30.0
_runs = itertools.count(1)


@pytest.fixture(params=["sqlite", "postgresql"])
def server_and_database(request, start_live_server):
    """(server, SQLAlchemy URL of its database), one per backend."""
    if request.param == "sqlite":
        server = start_live_server()
        yield server, f"sqlite:///{server.instance_path / 'sendapp.sqlite3'}"
        return
    with scratch_postgres_database() as url:
        server = start_live_server({"SENDAPP_DATABASE_URL": url})
        yield server, _database_url(url)
        server.stop()  # before the database is dropped


class Device:
    """One socket of a person, recording every `message` event it gets."""

    def __init__(self, server, person, session):
        self.person = person
        self.received = []
        self.lock = threading.Lock()
        self.client = connect_socket(server, session, self._on_message)

    def _on_message(self, data):
        with self.lock:
            self.received.append(data)

    def received_ids(self):
        with self.lock:
            return [m["id"] for m in self.received]


@pytest.fixture
def three_friends(server_and_database):
    """Three people, pairwise friends, two connected devices each."""
    server, _url = server_and_database
    run = next(_runs)
    people = [register_live(server, f"p{run}u{i}") for i in range(USERS)]
    for a, b in itertools.combinations(people, 2):
        befriend_live(server, a, b)
    for person in people:
        add_device(server, person)
    devices = {p.id: [Device(server, p, s) for s in p.devices] for p in people}
    yield people, devices
    for pair in devices.values():
        for device in pair:
            device.client.disconnect()


def send_twice(devices, envelopes):
    """Send each envelope from both devices at once (a barrier per message); answers
    [[ack device 0, ack device 1], …] and whether the budget cut the run short."""
    deadline = time.monotonic() + BUDGET
    stop = [False]
    barrier = threading.Barrier(2, action=lambda: stop.__setitem__(0, time.monotonic() > deadline))
    acks = [[None, None] for _ in envelopes]

    def device_loop(index):
        for number, envelope in enumerate(envelopes):
            barrier.wait(ACK_WAIT)
            if stop[0]:
                return
            acks[number][index] = devices[index].client.call("send", dict(envelope),
                                                              timeout=ACK_WAIT)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(device_loop, 0), pool.submit(device_loop, 1)]:
            future.result()
    return [pair for pair in acks if pair != [None, None]], stop[0]


def sync_all(client):
    """Every message a fresh socket's sync returns, paging by `after`."""
    messages, after = [], 0
    for _ in range(100):  # bounded: 100 pages of 500
        page = client.call("sync", {"after": after, "limit": 500}, timeout=ACK_WAIT)
        assert page["ok"], page
        messages += page["messages"]
        if not page["more"]:
            return messages
        after = page["messages"][-1]["id"]
    pytest.fail("sync did not end after 100 pages")


def test_same_cid_from_two_devices_at_once_is_stored_once_and_relayed_the_same(
        server_and_database, three_friends):
    server, url = server_and_database
    people, devices = three_friends
    plan = {}  # sender id → [envelope, …]; message k goes to one of the two friends in turn
    for i, person in enumerate(people):
        friends = [people[(i + 1) % USERS], people[(i + 2) % USERS]]
        plan[person.id] = [text_envelope(person, friends[k % 2], f"{person.username} #{k}")
                           for k in range(MESSAGES)]

    with concurrent.futures.ThreadPoolExecutor(USERS) as pool:
        futures = {p.id: pool.submit(send_twice, devices[p.id], plan[p.id]) for p in people}
        outcomes = {sender: future.result() for sender, future in futures.items()}

    sent = {}  # cid → (sender id, recipient id, id)
    for sender, (acks, cut_short) in outcomes.items():
        assert not cut_short, f"sender {sender} ran out of the {BUDGET}s budget"
        assert len(acks) == MESSAGES
        for envelope, (first, second) in zip(plan[sender], acks):
            assert first and first["ok"] is True, first
            assert second and second["ok"] is True, second
            assert first["id"] == second["id"], (first, second)
            sent[envelope["cid"]] = (sender, envelope["to"], first["id"])
    assert len({stored_id for _s, _r, stored_id in sent.values()}) == len(sent)

    # Every socket of the pair gets each message over `message`, at most once per send, and
    # every copy of an id is the same message.
    expected = {d: {i for s, r, i in sent.values() if d.person.id in (s, r)}
                for pair in devices.values() for d in pair}
    wait_for(lambda: all(want <= set(d.received_ids()) for d, want in expected.items()),
             DELIVERY_WAIT)
    for device, want in expected.items():
        counts = collections.Counter(device.received_ids())
        assert [i for i, n in counts.items() if n > 2] == [], f"3+ copies on {device.person.username}"
        assert set(counts) == want, f"{device.person.username}: missing {want - set(counts)}"
        with device.lock:
            by_id = collections.defaultdict(list)
            for message in device.received:
                by_id[message["id"]].append(message)
        assert all(copies.count(copies[0]) == len(copies) for copies in by_id.values())

    # A fresh socket's sync holds each cid once, with the acked id.
    for person in people:
        fresh = connect_socket(server, person.devices[0])
        try:
            synced = sync_all(fresh)
        finally:
            fresh.disconnect()
        cids = collections.Counter(m["cid"] for m in synced)
        assert [c for c, n in cids.items() if n > 1] == []
        mine = {c: v for c, v in sent.items() if person.id in v[:2]}
        assert {m["cid"]: m["id"] for m in synced if m["cid"] in mine} == \
            {c: v[2] for c, v in mine.items()}

    # And so does the database.
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            doubles = connection.execute(text(
                "SELECT sender_id, cid FROM messages GROUP BY sender_id, cid HAVING count(*) > 1"
            )).all()
            total = connection.execute(text("SELECT count(*) FROM messages")).scalar()
    finally:
        engine.dispose()
    assert doubles == []
    assert total == len(sent) == USERS * MESSAGES


def test_same_cid_other_content_from_two_devices_at_once_keeps_the_first(
        server_and_database, three_friends):
    server, _url = server_and_database
    people, devices = three_friends
    alice, bob = people[0], people[1]
    one = text_envelope(alice, bob, "one")
    two = text_envelope(alice, bob, "two", cid=one["cid"])
    barrier = threading.Barrier(2)

    def send(device, envelope):
        barrier.wait(ACK_WAIT)
        return device.client.call("send", envelope, timeout=ACK_WAIT)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        acks = list(pool.map(send, devices[alice.id], [one, two]))
    assert sorted(a["ok"] for a in acks) == [False, True], acks
    kept, refused = (0, 1) if acks[0]["ok"] else (1, 0)
    assert acks[refused]["error"] == "conflict", acks
    fresh = connect_socket(server, bob.devices[0])
    try:
        synced = [m for m in sync_all(fresh) if m["cid"] == one["cid"]]
    finally:
        fresh.disconnect()
    assert len(synced) == 1
    assert synced[0]["id"] == acks[kept]["id"]
    assert synced[0]["ct"] == [one, two][kept]["ct"]
    assert wait_for(lambda: acks[kept]["id"] in devices[bob.id][0].received_ids(), DELIVERY_WAIT)
    assert devices[bob.id][0].received_ids().count(acks[kept]["id"]) == 1
