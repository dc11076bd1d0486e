"""Past SEND_CONCURRENCY sends in hand, a `send` is answered `retry` before Socket.IO decodes it."""
import json
from types import SimpleNamespace

from sendapp.load import SendsInHand, shed_sends


class FakeEngineIO:
    """Just what shed_sends touches: the `message` handler and `send`."""

    def __init__(self):
        self.decoded, self.sent = [], []
        self.handlers = {"message": lambda sid, data: self.decoded.append((sid, data))}

    def on(self, name, handler):
        self.handlers[name] = handler

    def send(self, sid, data):
        self.sent.append((sid, data))


def gate(limit):
    eio = FakeEngineIO()
    in_hand = SendsInHand(limit)
    shed_sends(SimpleNamespace(eio=eio), in_hand)
    return eio, in_hand, eio.handlers["message"]


SEND = '27["send",{"v":1,"cid":"x"}]'


def test_a_send_past_the_bound_gets_retry_with_its_ack_id_and_is_not_decoded():
    eio, in_hand, handle = gate(1)
    with in_hand.one():
        handle("sid1", SEND)
        handle("sid1", '28["typing",{"to":2,"on":true}]')  # other events are never shed
    assert eio.decoded == [("sid1", '28["typing",{"to":2,"on":true}]')]
    (sid, packet), = eio.sent
    assert sid == "sid1" and packet.startswith("37[")
    assert json.loads(packet[2:])[0]["error"] == "retry"


def test_below_the_bound_every_send_goes_through():
    eio, in_hand, handle = gate(2)
    with in_hand.one():
        handle("sid1", SEND)
    assert in_hand.count == 0
    assert eio.decoded == [("sid1", SEND)] and eio.sent == []
