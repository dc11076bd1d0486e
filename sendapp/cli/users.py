"""`flask users`: manage accounts from the server's shell."""
import functools
import sys
from datetime import datetime, timezone

import click
from flask.cli import with_appcontext

from ..auth import admin
from ..errors import ApiError

# Exit codes: 0 done, 1 refused (unknown user, taken name, bad input), 2 usage (click).
EXIT_REFUSED = 1


def refusals_exit_1(command):
    """Print an admin refusal (unknown user, taken name…) as one line and exit 1."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ApiError as error:
            click.echo(f"Error: {error.message}", err=True)
            sys.exit(EXIT_REFUSED)

    return run


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
@refusals_exit_1
def create(username, password_stdin):
    """Create an account (its keys are made at the first browser login)."""
    user = admin.create_user(username, _read_password(password_stdin))
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
@refusals_exit_1
def disable(username):
    """Block logins and end every session of an account."""
    user = admin.set_disabled(username, True)
    click.echo(f"Disabled {user.username}; their sessions were ended.")


@users.command("enable")
@click.argument("username")
@with_appcontext
@refusals_exit_1
def enable(username):
    """Allow a disabled account to log in again."""
    user = admin.set_disabled(username, False)
    click.echo(f"Enabled {user.username}.")


@users.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
@refusals_exit_1
def reset_password(username, password_stdin):
    """Set a new password; the old vault and private keys are lost."""
    admin.get_user(username)  # an unknown name fails before the password prompt
    user = admin.reset_password(username, _read_password(password_stdin))
    click.echo(
        f"Password of {user.username} reset. Their encrypted vault was dropped: they get a new "
        "key pair at their next login, and their friends will see a key-change warning.")


@users.command("delete")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
@refusals_exit_1
def delete(username, yes):
    """Delete an account with its messages and attachments."""
    user = admin.get_user(username)
    if not yes:
        click.confirm(f"Delete {user.username} and all their messages and attachments?",
                      abort=True)
    admin.delete_user(username)
    click.echo(f"Deleted {user.username}.")
