"""File work for backups: owner-only copies with their digest, archives, and folder swaps."""
import hashlib
import os
import secrets
import shutil
import tarfile
import tempfile
from pathlib import Path

from .manifest import CHUNK, BackupError

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")


def is_archive(path):
    return str(path).endswith(ARCHIVE_SUFFIXES)


def copy_hashing(source, target):
    """Copy one file to a new owner-only file; return its SHA-256 (read once)."""
    digest = hashlib.sha256()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(source, "rb") as inp, os.fdopen(fd, "wb") as out:
        for chunk in iter(lambda: inp.read(CHUNK), b""):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def sibling_folder(path, tag):
    """A new private folder next to `path` (same filesystem, so a rename moves it)."""
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{path.name}.{tag}-", dir=path.parent))


def aside_name(path, tag):
    """An unused name next to `path` to move it out of the way."""
    path = Path(path)
    return path.with_name(f".{path.name}.{tag}-{secrets.token_hex(4)}")


def write_archive(folder, dest):
    """Pack `folder`'s contents into the .tar.gz `dest` (written aside, then renamed)."""
    partial = aside_name(dest, "partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as archive:
            for path in sorted(Path(folder).rglob("*")):
                if path.is_file():
                    archive.add(path, arcname=str(path.relative_to(folder)), recursive=False)
            raw.flush()
        os.replace(partial, dest)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def unpack_archive(archive_path, into):
    """Extract a backup archive: regular files and folders only, nothing outside `into`."""
    try:
        with tarfile.open(archive_path, mode="r:gz") as archive:
            for member in archive.getmembers():
                if not (member.isfile() or member.isdir()):
                    raise BackupError(f"The archive holds {member.name!r}, which is not a "
                                      "plain file; refusing it.")
            archive.extractall(into, filter="data")
    except (tarfile.TarError, EOFError, OSError, ValueError) as error:
        if isinstance(error, FileNotFoundError):
            raise BackupError(f"There is no backup at {archive_path}.") from None
        raise BackupError(f"{archive_path} is not a readable backup archive ({error}).") from None


def remove(path):
    """Remove a file or folder if it exists."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
