"""Flask CLI: `flask users …`, `blobs gc`, `cert`, `backup`, `restore` and `translations`."""


def register_cli(app):
    from .backup import backup_command, restore_command
    from .blobs import blobs
    from .cert import cert_command
    from .translations import update_translations
    from .users import users

    app.cli.add_command(users)
    app.cli.add_command(blobs)
    app.cli.add_command(cert_command)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
    app.cli.add_command(update_translations)
