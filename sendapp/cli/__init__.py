"""Flask CLI: `flask users …` and `flask cert`."""


def register_cli(app):
    from .cert import cert_command
    from .users import users

    app.cli.add_command(users)
    app.cli.add_command(cert_command)
