"""An attachment the server refuses (larger than SENDAPP_MAX_BLOB_BYTES) ends as failed, with
Retry and Delete, instead of waiting for a connection forever; Delete forgets it."""
import secrets

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.timeout(180)

PASSWORD = "refused upload passphrase 5"
LIMIT = 200_000
SERVER_ENV = {"SENDAPP_MAX_BLOB_BYTES": str(LIMIT)}


def test_a_too_large_attachment_fails_visibly_and_can_be_deleted(devices):
    alice, bob = devices("alice-big"), devices("bob-big")
    alice.register.create_account("alicebig", PASSWORD)
    bob.register.create_account("bobbig", PASSWORD)
    alice.chat.search_and_request("bobbig")
    bob.chat.accept_request("alicebig")
    alice.chat.open_conversation("bobbig")

    cid = alice.chat.attach_file("huge.bin", "application/octet-stream", secrets.token_bytes(4 * LIMIT))
    alice.chat.expect_status(cid, "failed")
    failure = alice.chat.message(cid).get_by_test_id("message-failed")
    expect(failure).to_contain_text("Not sent")
    expect(alice.chat.upload_progress(cid)).to_have_attribute("data-phase", "failed")
    assert alice.stored()["uploads"] == 1  # kept until the user decides

    alice.chat.message(cid).get_by_test_id("message-discard").click()
    expect(alice.chat.message(cid)).to_have_count(0)
    assert alice.stored()["uploads"] == 0
    alice.chat.dismiss_toasts()
