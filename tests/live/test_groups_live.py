"""Groups with the Python client against the real server process (PROTOCOL §9).

Alice is friends with bob and carol (an admin adds only friends, §9.1); bob and
carol are not friends, so every exchange between them also proves the widened
key rule of §9.1. Every wait is bounded.
"""
import asyncio
import os
import subprocess
import sys

import pytest

from sendapp.client import ApiFailure, groups
from support.live_clients import (
    PASSWORD, WAIT, befriend, live, login, quiet, receive, register, run,
)
from support.live_server import ROOT, TEST_KDF_ITERATIONS, LiveServer

TRANSPORTS = ["websocket", "polling"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One real server for this module (users are unique per test); stopped by pid after."""
    running = LiveServer(tmp_path_factory.mktemp("groups-live"))
    running.start()
    yield running
    running.stop()


def three_people(server):
    alice, bob, carol = (register(server, name) for name in ("alice", "bob", "carol"))
    befriend(alice, bob)
    befriend(alice, carol)
    return alice, bob, carol


@pytest.fixture
def trio(server):
    return three_people(server)


def in_group(group_id, kind="text"):
    return lambda m: m.group == group_id and m.kind == kind


def group_history(account, group_id):
    """Every message of a group wrapped for `account`, oldest first (HTTP, §9.2)."""
    messages, before = [], None
    while True:
        page = account.api.group_history(group_id, before=before, limit=200)
        messages[:0] = page["messages"]
        if not page["more"]:
            return messages
        before = page["messages"][0]["id"]


# --- exchange ---------------------------------------------------------------------------------
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_three_members_exchange_and_each_gets_each_message_once(trio, transport):
    alice, bob, carol = trio

    async def scenario():
        polling = transport == "polling"
        async with live(alice, polling=polling) as a, live(bob, polling=polling) as b, \
                live(carol, polling=polling) as c:
            assert a.transport == b.transport == c.transport == transport
            group = await a.create_group([bob.id, carol.id], name="Trip ✈", timeout=WAIT)
            gid = group["id"]
            for client in (a, b, c):
                [named] = await receive(client, 1)
                assert (named.group, named.kind, named.sender) == (gid, "group", alice.id)
                assert client.group_name(gid) == "Trip ✈"
                assert named.plain["members"] == sorted([alice.id, bob.id, carol.id])
            acks = []
            for client, text in ((a, "from alice"), (b, "from bob"), (c, "from carol")):
                acks.append(await client.send_group_text(gid, text, timeout=WAIT))
            for client in (a, b, c):
                got = await receive(client, 3)
                assert [m.id for m in got] == [ack["id"] for ack in acks]
                assert [m.text for m in got] == ["from alice", "from bob", "from carol"]
                assert all(m.ok and m.group == gid and not m.unverified for m in got)
                assert [m.mine for m in got] == [client is a, client is b, client is c]
                assert await quiet(client, 0.5) == []
            return gid, acks

    gid, acks = run(scenario())
    stored = group_history(carol, gid)
    assert [m["id"] for m in stored][1:] == [ack["id"] for ack in acks]
    assert all([entry["to"] for entry in m["keys"]] == [carol.id] for m in stored)


def test_group_file_round_trip_and_typing_and_read_markers(trio, tmp_path):
    alice, bob, carol = trio
    data = b"\x00group attachment\xff" * 5000

    async def scenario():
        events = asyncio.Queue()
        async with live(alice) as a, live(bob) as b, \
                live(carol, on_event=lambda n, d: events.put_nowait((n, d))) as c:
            group = await a.create_group([bob.id, carol.id], timeout=WAIT)
            gid = group["id"]
            ack = await b.send_group_file(gid, data, name="notes.bin", timeout=WAIT)
            [got] = await receive(c, 1, where=in_group(gid, "file"))
            assert got.id == ack["id"] and got.plain["name"] == "notes.bin"
            assert carol.download_file(got.plain) == data
            await b.typing_group(gid, True)
            assert await next_event(events, "typing") == {"from": bob.id, "group": gid,
                                                          "on": True}
            answer = await a.read_group(gid, ack["id"])
            assert answer["up_to"] == ack["id"]
            assert await next_event(events, "read") == {"from": alice.id, "group": gid,
                                                        "up_to": ack["id"]}

    run(scenario())


async def next_event(events, name, timeout=WAIT):
    while True:
        event, data = await asyncio.wait_for(events.get(), timeout)
        if event == name:
            return data


# --- membership changes ---------------------------------------------------------------------------
def test_stale_members_is_resealed_with_the_same_cid_for_the_new_member(server, trio):
    alice, bob, carol = trio

    async def scenario():
        async with live(alice) as a, live(carol) as c:
            group = await a.create_group([bob.id], name="before carol", timeout=WAIT)
            gid = group["id"]
            await a.send_group_text(gid, "warm the cache", timeout=WAIT)
            # Another device of alice adds carol, and this client seals before it hears of it
            # (the `group` event would update its list; the old list is put back to be sure).
            before = await a.group(gid)
            other = await asyncio.to_thread(login, server, alice.username)
            await asyncio.to_thread(other.api.add_group_member, gid, carol.id)
            a._remember_group(before)
            refusals = []
            reseal = a._replacers["stale_members"]

            async def counting(envelope, error):
                refusals.append((envelope["cid"], error.details.get("members")))
                return await reseal(envelope, error)

            a.on_refusal("stale_members", counting)
            cid = await a.queue_group_text(gid, "sealed for a stale list")
            ack = await a.wait_acked(cid, timeout=WAIT)
            assert refusals == [(cid, sorted([alice.id, bob.id, carol.id]))]
            [got] = await receive(c, 1, where=in_group(gid))
            assert (got.id, got.cid, got.text) == (ack["id"], cid, "sealed for a stale list")
            return gid, ack["id"]

    gid, message_id = run(scenario())
    [stored] = [m for m in group_history(bob, gid) if m["id"] == message_id]
    assert groups.open_envelope(bob, stored)["body"] == "sealed for a stale list"


def test_removed_member_receives_nothing_sent_after_the_removal(server, trio):
    alice, bob, carol = trio

    async def scenario():
        async with live(alice) as a, live(bob) as b, live(carol) as c:
            gid = (await a.create_group([bob.id, carol.id], name="soon two", timeout=WAIT))["id"]
            before = await b.send_group_text(gid, "carol still here", timeout=WAIT)
            got = await receive(c, 2)
            assert [m.kind for m in got] == ["group", "text"] and got[1].id == before["id"]
            await a.remove_group_member(gid, carol.id, timeout=WAIT)
            after = await b.send_group_text(gid, "carol is gone", timeout=WAIT)
            [got] = await receive(a, 1, where=lambda m: m.id == after["id"])
            assert got.text == "carol is gone"
            assert await quiet(c, 1.5) == []  # live: nothing more
            return gid, before["id"], after["id"]

    gid, before_id, after_id = run(scenario())
    fresh = login(server, carol.username)  # a new device syncs everything from 0

    async def sync_all():
        async with live(fresh) as c2:
            return await quiet(c2, 1.5)

    synced = [m for m in run(sync_all()) if m.group == gid]
    assert before_id in [m.id for m in synced] and after_id not in [m.id for m in synced]
    assert all(m.ok for m in synced)
    with pytest.raises(ApiFailure) as refused:  # no longer a member: history is not found
        carol.api.group_history(gid)
    assert refused.value.code == "not_found"


def test_new_member_cannot_read_older_messages(server, trio):
    alice, bob, carol = trio

    async def scenario():
        async with live(alice) as a, live(bob) as b:
            gid = (await a.create_group([bob.id], timeout=WAIT))["id"]
            old = await b.send_group_text(gid, "before carol", timeout=WAIT)
            await a.add_group_member(gid, carol.id, timeout=WAIT)
            new = await b.send_group_text(gid, "after carol", timeout=WAIT)
            return gid, old["id"], new["id"]

    gid, old_id, new_id = run(scenario())

    async def carol_syncs():
        async with live(carol) as c:
            return [m for m in await quiet(c, 1.5) if m.group == gid]

    synced = run(carol_syncs())
    assert old_id not in [m.id for m in synced]
    assert [m.text for m in synced if m.kind == "text"] == ["after carol"]
    assert all(m.ok for m in synced)
    assert old_id not in [m["id"] for m in group_history(carol, gid)]
    assert new_id in [m["id"] for m in group_history(carol, gid)]


def test_leaving_as_the_only_admin_hands_the_roster_to_the_successor(trio):
    alice, bob, carol = trio

    async def scenario():
        async with live(alice) as a, live(bob) as b:
            gid = (await a.create_group([bob.id, carol.id], name="handover", timeout=WAIT))["id"]
            await a.leave_group(gid, timeout=WAIT)
            got = await receive(b, 2, where=in_group(gid, "group"))
            assert got[1].plain["members"] == sorted([bob.id, carol.id])
            assert got[1].plain["admins"] == [bob.id]  # the oldest other member
            assert b.rosters[gid].admins == [bob.id] and b.group_name(gid) == "handover"
            group = await b.group(gid, refresh=True)
            assert group["my_role"] == "admin"
            with pytest.raises(ApiFailure) as refused:  # refused before anything is queued
                await a.send_group_text(gid, "I left", timeout=WAIT)
            assert refused.value.code == "not_found"

    run(scenario())


# --- a server killed mid-burst -------------------------------------------------------------------
def test_server_killed_mid_burst_every_message_is_stored_and_shown_once(tmp_path):
    """Three members send at once; `kill -9`, restart on the same database; clients
    reconnect, sync and resend: each message is stored once and shown once to each member."""
    restarting = LiveServer(tmp_path)
    restarting.start()
    count = 40
    try:
        alice, bob, carol = three_people(restarting)

        async def scenario():
            shown = {alice.id: [], bob.id: [], carol.id: []}
            clients = [live(person, polling=person is bob, queue_messages=False,
                            outbox_path=tmp_path / f"{person.username}.json",
                            on_message=shown[person.id].append)
                       for person in (alice, bob, carol)]
            a, b, c = clients
            refusals = []
            for client in clients:
                def recording(envelope, error, client=client,
                              reseal=client._replacers["stale_members"]):
                    refusals.append((client.account.username, envelope["cid"],
                                     error.details.get("members"), error.message))
                    return reseal(envelope, error)
                client.on_refusal("stale_members", recording)
            for client in clients:
                await client.connect()
            gid = (await a.create_group([bob.id, carol.id], name="burst", timeout=WAIT))["id"]
            await b.group(gid)  # each sender knows the members before the burst
            await c.group(gid)

            async def burst(client, who):
                cids = []
                for i in range(count):
                    cids.append(await client.queue_group_text(gid, f"{who} {i}"))
                    await asyncio.sleep(0.02)
                return cids

            bursts = [asyncio.ensure_future(burst(client, person.username))
                      for client, person in zip(clients, (alice, bob, carol))]
            await until(lambda: len(shown[bob.id]) >= 15,
                        lambda: f"messages before the kill: shown "
                                f"{[len(got) for got in shown.values()]}, pending "
                                f"{[len(client.pending) for client in clients]}, bursts "
                                f"{[t.done() and t.exception() for t in bursts]}")
            killed_pid = restarting.pid
            await asyncio.to_thread(restarting.kill)  # SIGKILL: no clean shutdown
            pending_at_kill = sum(len(client.pending) for client in clients)
            await asyncio.to_thread(restarting.start)
            assert restarting.pid != killed_pid
            cids = await asyncio.wait_for(asyncio.gather(*bursts), 60)
            acked = set()
            for client, sent in zip(clients, cids):
                for cid in sent:
                    try:
                        acked.add((await client.wait_acked(cid, timeout=60))["id"])
                    except Exception as exc:
                        raise AssertionError(f"{client.account.username} {cid}: {exc!r}; "
                                             f"stale refusals: {refusals}") from exc
            total = 3 * count + 1  # the bursts and the naming message
            try:
                await until(lambda: all(len(got) >= total for got in shown.values()),
                            "every message at every member", timeout=30)
            except AssertionError:
                pass  # the comparisons below say what is missing
            await asyncio.sleep(1.0)  # anything shown twice would arrive now
            for client in clients:
                await client.disconnect()
            return gid, shown, pending_at_kill, acked

        gid, shown, pending_at_kill, acked = run(scenario(), timeout=240)
        print("messages pending when the server was killed:", pending_at_kill)
        expected = {f"{p.username} {i}" for p in (alice, bob, carol) for i in range(count)}
        stored = group_history(carol, gid)
        stored_ids = {m["id"] for m in stored}
        assert acked <= stored_ids, f"acknowledged but not stored: {sorted(acked - stored_ids)}"
        assert len(stored) == 3 * count + 1
        assert len({(m["from"], m["cid"]) for m in stored}) == len(stored)
        for member, got in shown.items():
            ids = [m.id for m in got]
            assert len(set(ids)) == len(ids), "a message was shown twice"
            assert set(ids) == stored_ids, \
                f"member {member} never got {sorted(stored_ids - set(ids))} (acked ids " \
                f"{sorted(acked)[:3]}…, shown {len(ids)} of {len(stored_ids)})"
            assert all(m.ok for m in got)
            assert {m.text for m in got if m.kind == "text"} == expected
    finally:
        restarting.stop()


async def until(condition, what, timeout=WAIT):
    """Wait (bounded) until `condition()` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
        await asyncio.sleep(0.02)


# --- the command line ----------------------------------------------------------------------------
def cli(server, user, *args, timeout=60):
    """Run `python -m sendapp.client` as a user would; return (code, stdout, stderr)."""
    command = [sys.executable, "-m", "sendapp.client", "--server", server.url,
               "--ca", str(server.cert_path), "--user", user, "--password-stdin",
               "--min-kdf-iterations", str(TEST_KDF_ITERATIONS), *args]
    done = subprocess.run(command, cwd=ROOT, input=PASSWORD + "\n", capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return done.returncode, done.stdout, done.stderr


def test_command_line_creates_lists_sends_to_reads_and_leaves_a_group(server, trio):
    alice, bob, carol = trio
    code, out, err = cli(server, alice.username, "group-create", "--name", "Book club",
                         bob.username, carol.username)
    assert code == 0, err
    gid = int(out.split("#")[1].split()[0])
    code, out, err = cli(server, bob.username, "--polling", "group-send", str(gid), "hello",
                         "club")
    assert code == 0 and out.startswith("sent #"), err
    code, out, err = cli(server, carol.username, "group-history", str(gid))
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2, (out, err)
    assert f"{alice.username}: [group] named 'Book club'" in lines[0]
    assert lines[1].endswith(f"{bob.username}: hello club")
    code, out, _ = cli(server, carol.username, "groups")
    assert code == 0
    assert out.strip() == (f"#{gid} Book club: {alice.username}*, {bob.username}, "
                           f"{carol.username}")
    code, out, _ = cli(server, alice.username, "group-leave", str(gid))
    assert code == 0 and out.strip() == f"left group #{gid}"
    code, out, _ = cli(server, carol.username, "groups")
    assert out.strip() == f"#{gid} Book club: {bob.username}*, {carol.username}"
    code, _, err = cli(server, alice.username, "group-send", str(gid), "still here?")
    assert code == 1 and err.startswith("error: ") and "Traceback" not in err
