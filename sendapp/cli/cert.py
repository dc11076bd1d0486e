"""`flask cert`: make the server's TLS certificate and its one-time CA; the work is in sendapp.tls."""
import click
from flask import current_app
from flask.cli import with_appcontext

from .. import tls


@click.command("cert")
@click.option("--host", "hosts", multiple=True, metavar="NAME_OR_IP",
              help="Also cover this host name or IP address (repeatable).")
@click.option("--days", type=click.IntRange(min=1), default=tls.DEFAULT_DAYS, show_default=True,
              help="Validity in days; Apple devices refuse more than 825.")
@click.option("--force", is_flag=True, help="Replace an existing certificate and key.")
@with_appcontext
def cert_command(hosts, days, force):
    """Create the TLS certificate, its key and the CA phones install, in CERT_DIR."""
    cert_dir = current_app.config["CERT_DIR"]
    try:
        cert_path, key_path, created = tls.ensure_certificate(
            cert_dir, days=days, extra_hosts=hosts, force=force)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="'--host'")
    if created:
        click.echo(f"Created a certificate valid for {days} days.")
    else:
        click.echo(f"A certificate already exists in {cert_dir}; left it unchanged "
                   "(use --force to replace it).")
    click.echo(f"Certificate: {cert_path}")
    click.echo(f"Private key: {key_path}")
    click.echo("Names: " + ", ".join(tls.certificate_sans(cert_path)))
    authority = tls.authority_path(cert_path)
    if authority is None or tls.can_sign_certificates(cert_path):
        click.echo("This certificate can vouch for any site once trusted; replace it with "
                   "--force and install the ca.pem that makes.")
        click.echo("SHA-256 fingerprint: " + tls.certificate_fingerprint(cert_path))
        return
    click.echo(f"Install on phones: {authority} (it can vouch only for the names above; "
               "its signing key was discarded)")
    click.echo("SHA-256 fingerprint: " + tls.certificate_fingerprint(authority))
