"""The bound on sends in hand, on the real server over a raw WebSocket (sendapp/load.py).

A burst of `send` packets written at once reaches the server's reader together; the edge
counts each one let through until its handler answers, so past the bound the rest are
answered `retry` with `retry_after` and nothing stored. Every one let through is stored once,
and once the burst is answered the count is back to zero: later sends are accepted again,
also after a `send` packet that could not be decoded dropped its connection.
"""
import asyncio
import json
import ssl

import aiohttp

from support.live_people import befriend_live, register_live
from support.messages import text_envelope

BOUND = 2  # SENDAPP_SEND_CONCURRENCY: the bound on sends in hand, whatever the measured rate
BURST = 60
WAIT = 20  # seconds for any one answer


async def _open(http, server, session):
    """A raw Engine.IO WebSocket of `session`, connected to the default namespace."""
    headers = {"Cookie": "; ".join(f"{c.name}={c.value}" for c in session.cookies)}
    url = server.url.replace("https://", "wss://") + "/socket.io/?EIO=4&transport=websocket"
    ws = await http.ws_connect(url, headers=headers)
    assert (await ws.receive_str(timeout=WAIT)).startswith("0{")
    await ws.send_str("40")
    assert (await ws.receive_str(timeout=WAIT)).startswith("40{")
    return ws


async def _acks(ws, ids):
    """{ack id: answer} for every id in `ids` (pings answered, other packets skipped)."""
    answers = {}
    while not ids <= answers.keys():
        packet = await ws.receive_str(timeout=WAIT)
        if packet == "2":
            await ws.send_str("3")
        elif packet.startswith("43"):
            number, _, rest = packet[2:].partition("[")
            answers[int(number)] = json.loads("[" + rest)[0]
    return answers


async def _send_one(ws, number, envelope):
    await ws.send_str(f"42{number}" + json.dumps(["send", envelope]))
    return (await _acks(ws, {number}))[number]


async def _burst_then_one_by_one(server, sender, recipient, envelopes):
    """The burst's answers, then each refused envelope resent alone until acked (bounded);
    then a `send` packet that cannot be decoded, and one more send on a new socket."""
    context = ssl.create_default_context(cafile=str(server.cert_path))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:
        ws = await _open(http, server, sender.devices[0])
        packets = [f"42{n}" + json.dumps(["send", e]) for n, e in enumerate(envelopes)]
        await asyncio.gather(*(ws.send_str(packet) for packet in packets))
        burst = await _acks(ws, set(range(len(envelopes))))
        later, number = {}, len(envelopes)
        for index in [n for n, answer in burst.items() if not answer["ok"]]:
            for _attempt in range(20):
                number += 1
                answer = await _send_one(ws, number, envelopes[index])
                if answer["ok"]:
                    later[index] = answer
                    break
                await asyncio.sleep(answer.get("retry_after", 0.2))
        await ws.send_str('4299["send",{"v":1,')  # matches the edge's pattern, not JSON
        dropped = await ws.receive(timeout=WAIT)
        await ws.close()
        fresh = await _open(http, server, sender.devices[0])
        extra = text_envelope(sender, recipient, "after the dropped connection")
        after_drop = await _send_one(fresh, 1, extra)
        await fresh.send_str('42999["sync",{"after":0,"limit":500}]')
        fresh_sync = (await _acks(fresh, {999}))[999]
        await fresh.close()
        return burst, later, dropped, after_drop, fresh_sync


def test_a_burst_past_the_bound_is_answered_retry_and_the_rest_stored_once(start_live_server):
    server = start_live_server({"SENDAPP_SEND_CONCURRENCY": str(BOUND)})
    alice, bob = register_live(server, "shedalice"), register_live(server, "shedbob")
    befriend_live(server, alice, bob)
    envelopes = [text_envelope(alice, bob, f"burst {k}") for k in range(BURST)]

    burst, later, dropped, after_drop, sync = asyncio.run(asyncio.wait_for(
        _burst_then_one_by_one(server, alice, bob, envelopes), 120))

    refused = [answer for answer in burst.values() if not answer["ok"]]
    assert refused, "a burst of 60 past a bound of 2 was never refused"
    assert all(a["error"] == "retry" and 0.2 <= a["retry_after"] <= 30 for a in refused)
    assert len(refused) < BURST, "nothing of the burst was let through"
    assert len(later) == len(refused), "a refused send was never accepted afterwards"
    assert after_drop["ok"] is True, after_drop
    assert dropped.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    ids = {n: a["id"] for n, a in burst.items() if a["ok"]} | {n: a["id"] for n, a in later.items()}
    assert len(set(ids.values())) == BURST
    stored = [m for m in sync["messages"] if m["cid"] in {e["cid"] for e in envelopes}]
    assert sorted(m["id"] for m in stored) == sorted(ids.values())
    log = server.log_text()
    assert "busy: sends answered retry" in log and "Traceback" not in log
