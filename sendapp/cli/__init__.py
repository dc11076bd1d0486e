"""Flask CLI: `flask users …`, `flask blobs gc` and `flask cert`."""


def register_cli(app):
    from .blobs import blobs
    from .cert import cert_command
    from .users import users

    app.cli.add_command(users)
    app.cli.add_command(blobs)
    app.cli.add_command(cert_command)
