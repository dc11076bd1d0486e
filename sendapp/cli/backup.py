"""`flask backup DEST` and `flask restore SRC`; the work is in sendapp.backup."""
import sys

import click
from flask.cli import with_appcontext

from .. import backup as backups

EXIT_REFUSED = 1  # as `flask users`: 0 done, 1 refused or failed, 2 usage


def _human(size):
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024


def _fail(error):
    click.echo(f"Error: {error}", err=True)
    sys.exit(EXIT_REFUSED)


@click.command("backup")
@click.argument("dest", type=click.Path(dir_okay=True, file_okay=True))
@click.option("--include-secret-key", is_flag=True,
              help="Also copy the instance secret key, so login sessions survive a restore. "
                   "Whoever holds such a backup can sign session cookies for this server: "
                   "keep it as secret as the server itself.")
@with_appcontext
def backup_command(dest, include_secret_key):
    """Copy the database and attachments to DEST while the server runs.

    DEST must not exist. A name ending in .tar.gz or .tgz makes one archive file; any other
    name makes a folder. SQLite is copied with its backup API; PostgreSQL with pg_dump
    (custom format; pg_dump must be on PATH). Without --include-secret-key the backup holds
    no secret key: after a restore everyone logs in again.
    """
    try:
        made = backups.make_backup(dest, include_secret_key=include_secret_key)
    except (backups.BackupError, OSError) as error:  # OSError: disk full, no permission…
        _fail(error)
    blobs = sum(1 for row in made["files"] if row["path"].startswith("blobs/"))
    total = sum(row["size"] for row in made["files"])
    click.echo(f"Backed up the {made['database']} database (schema "
               f"{made['schema_revision'] or 'unversioned'}) and {blobs} attachment(s), "
               f"{_human(total)}, to {dest}.")
    if made["missing_blobs"]:
        click.echo(f"Note: {made['missing_blobs']} attachment(s) were deleted while the backup "
                   "ran and are not in it.")
    if include_secret_key:
        click.echo("It includes the secret key: store it as securely as the server.")
    else:
        click.echo("It holds no secret key: after a restore everyone logs in again.")


@click.command("restore")
@click.argument("src", type=click.Path())
@click.option("--force", is_flag=True,
              help="Replace a database that already holds data (all of it).")
@with_appcontext
def restore_command(src, force):
    """Put the backup at SRC back into this instance; stop the server first.

    Checks the manifest and every file's SHA-256 first, refuses a database that holds data
    unless --force, and refuses while another process has the database open. The database
    and attachments are staged and renamed into place; if anything fails the old data stays.
    A backup from an older schema is migrated afterwards.
    """
    try:
        found, notes = backups.restore_backup(src, force=force)
    except (backups.BackupError, OSError) as error:  # OSError: disk full, no permission…
        _fail(error)
    blobs = sum(1 for row in found["files"] if row["path"].startswith("blobs/"))
    click.echo(f"Restored the {found['database']} database and {blobs} attachment(s) from the "
               f"backup made {found['created']}.")
    for note in notes:
        click.echo(note)
    click.echo("Start the server again.")
