"""Encrypt envelopes between test people exactly as a client would (PROTOCOL §4-5)."""
from sendapp import crypto
from sendapp.rooms import ordered


def pair_key_for(me, peer):
    lo, hi = ordered(me.id, peer.id)
    lo_pub, hi_pub = (me.public_key, peer.public_key) if me.id == lo else (peer.public_key, me.public_key)
    return crypto.pair_key(me.private_key, peer.public_key, lo, hi, lo_pub, hi_pub)


def text_envelope(sender, recipient, body, cid=None):
    return crypto.encrypt_message(
        pair_key_for(sender, recipient), sender.id, recipient.id, sender.key_id,
        recipient.key_id, {"t": "text", "body": body, "sent": 1}, cid=cid)


def read_text(me, sender, envelope):
    return crypto.decrypt_message(pair_key_for(me, sender), envelope)["body"]
