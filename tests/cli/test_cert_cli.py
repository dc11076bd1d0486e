"""`flask cert` through app.test_cli_runner(): files, permissions, names, validity, --force,
and a CA that can vouch only for this server's names."""
import datetime
import ipaddress
import os
import socket
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import verification
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
    ca_path = cert_dir / "ca.pem"
    assert f"Install on phones: {ca_path}" in result.output
    assert f"SHA-256 fingerprint: {tls.certificate_fingerprint(ca_path)}" in result.output
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


def load_authority(cert_dir):
    return x509.load_pem_x509_certificate((cert_dir / "ca.pem").read_bytes())


def test_server_certificate_is_a_leaf_for_tls_servers_only(cert_runner, cert_dir):
    assert run_cert(cert_runner).exit_code == 0
    cert, authority = load(cert_dir), load_authority(cert_dir)
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert cert.issuer == authority.subject != cert.subject
    cert.verify_directly_issued_by(authority)


def test_ca_phones_install_is_constrained_to_the_servers_names(cert_runner, cert_dir):
    assert run_cert(cert_runner, "--host", "10.9.8.7", "--host", "chat.example.lan").exit_code == 0
    authority = load_authority(cert_dir)
    constraints = authority.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    names = authority.extensions.get_extension_for_class(x509.NameConstraints)
    assert names.critical and names.value.excluded_subtrees is None
    permitted = {str(n.value) for n in names.value.permitted_subtrees}
    sans = tls.certificate_sans(cert_dir / "cert.pem")
    assert permitted == {s if not _is_ip(s) else str(ipaddress.ip_network(s)) for s in sans}
    assert {"10.9.8.7/32", "127.0.0.1/32", "::1/128", "chat.example.lan"} <= permitted
    eku = authority.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]


def _is_ip(text):
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def test_cert_file_serves_the_chain_and_the_ca_key_is_not_kept(cert_runner, cert_dir):
    assert run_cert(cert_runner).exit_code == 0
    chain = x509.load_pem_x509_certificates((cert_dir / "cert.pem").read_bytes())
    assert len(chain) == 2 and chain[1] == load_authority(cert_dir)
    files = sorted(p.name for p in cert_dir.iterdir() if p.name != tls.LOCK_NAME)
    assert files == ["ca.pem", "cert.pem", "key.pem"]
    assert (cert_dir / tls.LOCK_NAME).read_bytes() == b""  # the lock file holds nothing
    key = serialization.load_pem_private_key((cert_dir / "key.pem").read_bytes(), password=None)
    assert key.public_key() == chain[0].public_key() != chain[1].public_key()


def _verify(authority, leaf, name):
    store = verification.Store([authority])
    when = datetime.datetime.now(datetime.timezone.utc)
    verifier = verification.PolicyBuilder().store(store).time(when).build_server_verifier(name)
    return verifier.verify(leaf, [])


def test_a_ca_built_this_way_cannot_vouch_for_other_names():
    """Even a holder of the CA key (discarded by flask cert) could not sign for another site."""
    sans = [x509.DNSName("sendapp.lan"), x509.IPAddress(ipaddress.ip_address("10.0.0.2"))]
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    authority = tls.build_authority(ca_key, sans, 30)
    own = tls.build_certificate(key, sans, 30, authority, ca_key)
    assert _verify(authority, own, x509.DNSName("sendapp.lan"))
    assert _verify(authority, own, x509.IPAddress(ipaddress.ip_address("10.0.0.2")))
    for other in ([x509.DNSName("bank.example")],
                  [x509.IPAddress(ipaddress.ip_address("10.0.0.3"))]):
        forged = tls.build_certificate(key, other, 30, authority, ca_key)
        with pytest.raises(verification.VerificationError):
            _verify(authority, forged, other[0])


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


def _make_certificate(cert_dir, barrier, results):
    barrier.wait(timeout=20)
    results.put(tls.ensure_certificate(str(cert_dir))[2])


def test_servers_starting_together_make_one_matching_certificate_and_key(tmp_path):
    """Several processes making the first certificate at once (two servers on one folder):
    one makes it, the others use it, and the key on disk is the certificate's key."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    cert_dir = tmp_path / "certs"
    barrier, results = context.Barrier(6), context.Queue()
    workers = [context.Process(target=_make_certificate, args=(cert_dir, barrier, results))
               for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert all(worker.exitcode == 0 for worker in workers)
    created = [results.get(timeout=5) for _ in workers]
    assert created.count(True) == 1
    certificate = x509.load_pem_x509_certificate((cert_dir / tls.CERT_NAME).read_bytes())
    key = serialization.load_pem_private_key((cert_dir / tls.KEY_NAME).read_bytes(), None)
    assert certificate.public_key().public_numbers() == key.public_key().public_numbers()
