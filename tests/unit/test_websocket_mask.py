"""The one-pass unmasking gives exactly what eventlet's byte-by-byte loop gives.

eventlet is not imported here (it hooks fork(), which the live tests use): its loop is
restated below; the live tests run every WebSocket frame through `unmask` in the server.
"""
import os
import random

import pytest

from sendapp.websocket_mask import unmask


def EVENTLETS_OWN(data, mask, length=None, offset=0):  # noqa: N802 - eventlet 0.41's _apply_mask
    if length is None:
        length = len(data)
    return b"".join(bytes((data[i] ^ mask[(offset + i) % 4],)) for i in range(length))


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 125, 126, 735, 4096, 65_537])
def test_unmask_equals_eventlets_loop(size):
    rng = random.Random(size)
    for _ in range(5):
        data = os.urandom(size)
        mask = bytes(rng.randrange(256) for _ in range(4))
        offset = rng.randrange(4)
        assert unmask(data, mask) == EVENTLETS_OWN(data, mask)
        assert unmask(data, mask, offset=offset) == EVENTLETS_OWN(data, mask, offset=offset)
        assert unmask(bytearray(data), mask, size // 2) == EVENTLETS_OWN(data, mask, size // 2)


def test_unmask_is_its_own_inverse():
    data, mask = b"\x00\xffhello, frame", b"\x01\x02\x03\x04"
    assert unmask(unmask(data, mask), mask) == data
    assert unmask(data, mask) != data
