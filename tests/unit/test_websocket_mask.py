"""The one-pass unmasking gives exactly what eventlet's byte-by-byte loop gives."""
import os
import random

import warnings

import pytest

with warnings.catch_warnings():  # eventlet announces its deprecation on import
    warnings.simplefilter("ignore", DeprecationWarning)
    from eventlet.websocket import RFC6455WebSocket

from sendapp.websocket_mask import unmask

EVENTLETS_OWN = RFC6455WebSocket.__dict__["_apply_mask"].__func__


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
