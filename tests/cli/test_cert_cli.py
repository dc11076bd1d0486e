"""`flask cert` through app.test_cli_runner(): files, permissions, names, validity, --force."""
import ipaddress
import os
import socket
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from sendapp import create_app, tls
from sendapp.config import TestingConfig


@pytest.fixture
def cert_dir(tmp_path, monkeypatch):
    """Point the app's folders at tmp_path before the config reads the environment."""
    monkeypatch.setenv("SENDAPP_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("SENDAPP_CERT_DIR", str(tmp_path / "certs"))
    return tmp_path / "certs"


@pytest.fixture
def cert_runner(cert_dir):
    return create_app(TestingConfig()).test_cli_runner()


def run_cert(runner, *args):
    return runner.invoke(args=["cert", *args])


def load(cert_dir):
    return x509.load_pem_x509_certificate((cert_dir / "cert.pem").read_bytes())


def test_cert_writes_certificate_and_private_key(cert_runner, cert_dir):
    result = run_cert(cert_runner)
    assert result.exit_code == 0, result.output
    cert_path, key_path = cert_dir / "cert.pem", cert_dir / "key.pem"
    assert str(cert_path) in result.output and str(key_path) in result.output
    assert f"SHA-256 fingerprint: {tls.certificate_fingerprint(cert_path)}" in result.output
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert load(cert_dir).public_key() == key.public_key()


def test_private_key_is_owner_only_even_with_an_open_umask(cert_runner, cert_dir):
    previous = os.umask(0)
    try:
        assert run_cert(cert_runner).exit_code == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE((cert_dir / "key.pem").stat().st_mode) == 0o600


def test_certificate_is_a_server_ca_phones_can_install(cert_runner, cert_dir):
    assert run_cert(cert_runner).exit_code == 0
    cert = load(cert_dir)
    assert cert.issuer == cert.subject
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_cert_sign
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku


def test_names_cover_loopback_host_name_local_addresses_and_extra_hosts(cert_runner, cert_dir):
    result = run_cert(cert_runner, "--host", "chat.example.lan", "--host", "10.9.8.7",
                      "--host", "[2001:db8::5]")
    assert result.exit_code == 0, result.output
    sans = tls.certificate_sans(cert_dir / "cert.pem")
    assert {"localhost", "127.0.0.1", "::1", socket.gethostname().lower()} <= set(sans)
    assert {"chat.example.lan", "10.9.8.7", "2001:db8::5"} <= set(sans)
    assert set(tls.local_addresses()) <= set(sans)
    assert not any(ipaddress.ip_address(a).is_link_local for a in tls.local_addresses()
                   if ipaddress.ip_address(a).version == 6)
    assert "Names: " + ", ".join(sans) in result.output


def test_days_sets_the_validity(cert_runner, cert_dir):
    assert run_cert(cert_runner, "--days", "30").exit_code == 0
    cert = load(cert_dir)
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 30


def test_default_validity_is_what_apple_devices_accept(cert_runner, cert_dir):
    assert run_cert(cert_runner).exit_code == 0
    cert = load(cert_dir)
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 825


def test_existing_pair_is_kept_without_force(cert_runner, cert_dir):
    assert run_cert(cert_runner).exit_code == 0
    before = {name: (cert_dir / name).read_bytes() for name in ("cert.pem", "key.pem")}
    result = run_cert(cert_runner, "--host", "other.example", "--days", "10")
    assert result.exit_code == 0
    assert "already exists" in result.output and "--force" in result.output
    assert {name: (cert_dir / name).read_bytes() for name in before} == before


def test_force_replaces_the_pair(cert_runner, cert_dir):
    assert run_cert(cert_runner).exit_code == 0
    old_fingerprint = tls.certificate_fingerprint(cert_dir / "cert.pem")
    old_key = (cert_dir / "key.pem").read_bytes()
    result = run_cert(cert_runner, "--force", "--host", "new.example")
    assert result.exit_code == 0, result.output
    assert tls.certificate_fingerprint(cert_dir / "cert.pem") != old_fingerprint
    assert (cert_dir / "key.pem").read_bytes() != old_key
    assert "new.example" in tls.certificate_sans(cert_dir / "cert.pem")
    assert stat.S_IMODE((cert_dir / "key.pem").stat().st_mode) == 0o600


@pytest.mark.parametrize("args", [
    ["--host", "not a host"],
    ["--host", "a/b"],
    ["--days", "0"],
    ["--days", "soon"],
])
def test_bad_options_are_usage_errors_and_write_nothing(cert_runner, cert_dir, args):
    result = run_cert(cert_runner, *args)
    assert result.exit_code == 2
    assert not (cert_dir / "cert.pem").exists() and not (cert_dir / "key.pem").exists()
