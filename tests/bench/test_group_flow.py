"""The group scenario's bookkeeping (bench/group_scenario.py): a message counts as delivered
only when every member received it exactly once; a missing or doubled receipt shows."""
from bench.group_scenario import GroupFlow
from bench.scenarios import now

MEMBERS = [11, 12, 13]


def sent_and_acked(flow, cids, sender=11):
    for index, cid in enumerate(cids):
        flow.record(cid, sender)
        flow.answer(cid, {"ok": True, "id": index + 1, "ts": 0}, now())


def test_group_message_is_delivered_when_every_member_received_it_once():
    started = now()
    flow = GroupFlow(MEMBERS)
    sent_and_acked(flow, ["a" * 22, "b" * 22])
    for member in MEMBERS:
        for cid in ("a" * 22, "b" * 22):
            flow.receiver(member)(cid, now(), None)

    report = flow.report((started, now() + 1))

    assert report["delivered"] == 2 and report["delivered_twice_or_more"] == 0
    assert report["receipts"] == report["receipts_expected"] == 6
    assert report["receipts_missing"] == report["receipts_doubled"] == 0
    assert report["received_once_by_all"] is True
    assert report["receive"]["n"] == 6 and report["receive_last"]["n"] == 2
    assert report["deliveries_in_window"] == 6 and report["deliveries_per_s"] > 0
    assert report["after_warmup"]["receive"]["n"] == 6


def test_group_flow_reports_a_member_who_missed_a_message_and_one_who_got_it_twice():
    flow = GroupFlow(MEMBERS)
    cid = "c" * 22
    sent_and_acked(flow, [cid])
    flow.receiver(11)(cid, now(), None)
    flow.receiver(12)(cid, now(), None)
    flow.receiver(12)(cid, now(), None)  # member 12 twice, member 13 never

    report = flow.report()

    assert report["delivered"] == 0 and report["delivered_twice_or_more"] == 1
    assert report["receipts_missing"] == 1 and report["receipts_doubled"] == 1
    assert report["received_once_by_all"] is False
    assert report["receive_last"]["n"] == 0  # never reached every member
    assert flow.unreached() == 1


def test_group_flow_reports_a_receipt_of_a_message_that_was_never_acked():
    flow = GroupFlow(MEMBERS)
    cid = "d" * 22
    flow.record(cid, 11)
    flow.answer(cid, {"ok": False, "error": "retry"}, now())
    flow.receiver(13)(cid, now(), None)

    report = flow.report()

    assert report["received_not_acked"] == 1 and report["receipts_expected"] == 0
