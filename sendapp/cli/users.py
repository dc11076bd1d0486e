"""`flask users`: manage accounts from the server's shell."""
import sys
from datetime import datetime, timezone

import click
from flask.cli import with_appcontext

from ..auth import admin
from ..errors import ApiError

# Exit codes: 0 done, 1 refused (unknown user, taken name, bad input), 2 usage (click).
EXIT_REFUSED = 1


def _fail(error):
    click.echo(f"Error: {error.message}", err=True)
    sys.exit(EXIT_REFUSED)


def _read_password(from_stdin):
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _when(ms):
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


@click.group()
def users():
    """Manage user accounts."""


@users.command("create")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def create(username, password_stdin):
    """Create an account (its keys are made at the first browser login)."""
    try:
        user = admin.create_user(username, _read_password(password_stdin))
    except ApiError as error:
        _fail(error)
    click.echo(f"Created user {user.username} (id {user.id}). "
               "Keys are created at the first login in a browser.")


@users.command("list")
@with_appcontext
def list_users():
    """Show every account: id, name, created, disabled, has keys."""
    rows = [(str(u.id), u.username, _when(u.created), "yes" if u.disabled else "no",
             "yes" if u.current_key else "no") for u in admin.list_users()]
    header = ("ID", "USERNAME", "CREATED (UTC)", "DISABLED", "KEYS")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    if not rows:
        click.echo("(no users)")


@users.command("disable")
@click.argument("username")
@with_appcontext
def disable(username):
    """Block logins and end every session of an account."""
    try:
        user = admin.set_disabled(username, True)
    except ApiError as error:
        _fail(error)
    click.echo(f"Disabled {user.username}; their sessions were ended.")


@users.command("enable")
@click.argument("username")
@with_appcontext
def enable(username):
    """Allow a disabled account to log in again."""
    try:
        user = admin.set_disabled(username, False)
    except ApiError as error:
        _fail(error)
    click.echo(f"Enabled {user.username}.")


@users.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def reset_password(username, password_stdin):
    """Set a new password; the old vault and private keys are lost."""
    try:
        admin.get_user(username)
        user = admin.reset_password(username, _read_password(password_stdin))
    except ApiError as error:
        _fail(error)
    click.echo(
        f"Password of {user.username} reset. Their encrypted vault was dropped: they get a new "
        "key pair at their next login, and their friends will see a key-change warning.")


@users.command("delete")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def delete(username, yes):
    """Delete an account with its messages and attachments."""
    try:
        user = admin.get_user(username)
        if not yes:
            click.confirm(f"Delete {user.username} and all their messages and attachments?",
                          abort=True)
        admin.delete_user(username)
    except ApiError as error:
        _fail(error)
    click.echo(f"Deleted {user.username}.")
