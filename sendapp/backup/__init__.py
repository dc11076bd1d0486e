"""Online backups and restores: `flask backup DEST` and `flask restore SRC` (sendapp/cli/backup.py).

A backup is a folder (or that folder as a .tar.gz) holding a consistent copy of the database,
the attachment files that copy references, optionally the instance secret key, and a manifest
with every file's size and SHA-256 (`manifest.py`). `service.py` runs the steps; `sqlite.py`
and `postgres.py` copy and put back one database kind each; `files.py` holds the file work.
"""
from .manifest import BackupError  # noqa: F401
from .service import make_backup, restore_backup  # noqa: F401
