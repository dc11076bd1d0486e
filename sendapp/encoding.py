"""Byte/text encodings shared by the server and the Python client (PROTOCOL §1)."""
import base64
import re

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url_encode(data: bytes) -> str:
    """Encode bytes as base64url without padding, the only binary form on the wire (§1)."""
    return base64.urlsafe_b64encode(bytes(data)).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, length: int | None = None) -> bytes:
    """Decode strict, canonical, unpadded base64url so one value has exactly one spelling (§1).

    :param length: when given, the exact number of decoded bytes required.
    :raises ValueError: on a non-str, padding, a foreign character, non-zero
        trailing bits, an impossible length or a wrong decoded length.
    """
    if not isinstance(text, str):
        raise ValueError("base64url value must be a string")
    if not _B64URL.fullmatch(text):
        raise ValueError("base64url value has padding or a character outside the alphabet")
    if len(text) % 4 == 1:
        raise ValueError("base64url value has an impossible length")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url_encode(data) != text:
        raise ValueError("base64url value is not canonical (non-zero trailing bits)")
    if length is not None and len(data) != length:
        raise ValueError(f"base64url value must decode to {length} bytes, not {len(data)}")
    return data


def utf8(text: str) -> bytes:
    """Encode text as strict UTF-8, the protocol's only text encoding (§1)."""
    if not isinstance(text, str):
        raise TypeError("text must be a str")
    return text.encode("utf-8")
