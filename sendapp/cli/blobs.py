"""`flask blobs`: attachment housekeeping from the server's shell."""
import click
from flask.cli import with_appcontext

from ..blobs import collector


@click.group()
def blobs():
    """Manage encrypted attachments."""


@blobs.command("gc")
@click.option("--grace", type=click.IntRange(min=0), default=collector.UPLOAD_GRACE_SECONDS,
              show_default=True, help="Keep files without a row younger than this many seconds.")
@with_appcontext
def gc_command(grace):
    """Delete orphaned attachments (see `sendapp/blobs/collector.py` for what that means)."""
    counts = collector.collect(grace_seconds=grace)
    click.echo(f"Removed {counts['unreadable']} attachment(s) no one can read any more, "
               f"{counts['rows_without_file']} row(s) whose file was missing, "
               f"{counts['files_without_row']} file(s) without a row.")
