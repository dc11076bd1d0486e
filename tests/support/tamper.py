"""Tamper helpers for the crypto vector tests: decode a vector field, flip one bit."""
from sendapp.encoding import b64url_decode, b64url_encode


def d(text):
    """Decode a vector's base64url field."""
    return b64url_decode(text)


def flip(data: bytes, index: int = 0, bit: int = 0) -> bytes:
    """Return data with one bit flipped."""
    out = bytearray(data)
    out[index] ^= 1 << bit
    return bytes(out)


def flip_b64(text: str, index: int = 0) -> str:
    """Flip one bit of a base64url value's decoded bytes."""
    return b64url_encode(flip(d(text), index))
