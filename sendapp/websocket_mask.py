"""RFC 6455 unmasking in one pass: every frame a client sends is XOR-masked with 4 bytes.

eventlet's WebSocket unmasks one byte at a time in Python, building a bytes object per
byte: a fifth of the server's CPU per message (docs/BENCHMARKS.md). `unmask` keeps its
contract and XORs the whole frame as one integer. app.py installs it (the edge); the
function itself knows nothing of eventlet.
"""


def unmask(data, mask, length=None, offset=0):
    """`data[:length]` XOR the repeated 4-byte `mask`, starting at mask position `offset`
    (eventlet.websocket.RFC6455WebSocket._apply_mask's signature and result)."""
    if length is None:
        length = len(data)
    if length <= 0:
        return b""
    key = bytes(mask[(offset + i) % 4] for i in range(4))
    stream = (key * (length // 4 + 1))[:length]
    value = int.from_bytes(bytes(data[:length]), "little") ^ int.from_bytes(stream, "little")
    return value.to_bytes(length, "little")
