"""Socket events with out-of-range ids: a clean `bad_request`, read markers bounded to real ids."""
import pytest

from support.logs import no_tracebacks


@pytest.mark.parametrize("event,key", [("typing", "to"), ("read", "friend"), ("join", "friend")])
def test_huge_ids_in_socket_events_are_bad_request(pair, socket_client, caplog, event, key):
    alice, _bob = pair
    sio = socket_client(alice)
    ack = sio.emit(event, {key: 10**30, "up_to": 1, "on": True}, callback=True)
    assert ack["ok"] is False and ack["error"] == "bad_request", ack
    no_tracebacks(caplog)


# --- read markers (issue 7 §4): a marker past the newest message would hide later ones ---
def test_read_marker_beyond_the_newest_message_is_clamped(pair, socket_client):
    from support.messages import text_envelope

    alice, bob = pair
    a, b = socket_client(alice), socket_client(bob)
    first = a.emit("send", text_envelope(alice, bob, "one"), callback=True)
    ack = b.emit("read", {"friend": alice.id, "up_to": 2**53 - 1}, callback=True)
    assert ack == {"ok": True, "up_to": first["id"]}
    later = a.emit("send", text_envelope(alice, bob, "two"), callback=True)
    conversation = bob.get("/api/conversations").get_json()["conversations"][0]
    assert conversation["read_up_to"] == first["id"] < later["id"]
    assert conversation["unread"] == 1  # the later message is not hidden by the marker


def test_read_marker_in_an_empty_conversation_stays_zero(pair, socket_client):
    alice, bob = pair
    ack = socket_client(bob).emit("read", {"friend": alice.id, "up_to": 10**9}, callback=True)
    assert ack == {"ok": True, "up_to": 0}
