"""What an attachment send starts from: its bytes, name and type (pairs and groups alike)."""
import asyncio
import mimetypes
from pathlib import Path


async def read_attachment(path_or_bytes, name=None, mime=None):
    """(data, name, mime) from a path to read, or from bytes given with their `name`."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data = bytes(path_or_bytes)
        if not name:
            raise ValueError("name is required when sending bytes")
    else:
        path = Path(path_or_bytes)
        data = await asyncio.to_thread(path.read_bytes)
        name = name or path.name
    return data, name, mime or mimetypes.guess_type(name)[0] or "application/octet-stream"
