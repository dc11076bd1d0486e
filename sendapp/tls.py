"""Self-made TLS for a LAN server: a one-time, name-constrained CA and the server's certificate.

Browsers need HTTPS for WebCrypto, so `python app.py` and `flask cert` make a
certificate that phones can trust. Its SubjectAlternativeNames cover
localhost, the loopback addresses, the host name (and `<name>.local` for
mDNS), every non-loopback address of this machine and any extra hosts. IPv6
link-local addresses (fe80::/10) are left out: they need a zone id, which
neither URLs in browsers nor certificates can carry.

Phones only let users trust a CA, and a trusted CA could vouch for any site.
So the server's certificate (`cert.pem`, CA:FALSE, serverAuth) is signed by a
separate CA (`ca.pem`) that is name-constrained to exactly those names and
addresses and may sign no further CA (pathlen 0). The CA's key is generated,
used once, and never written anywhere: nobody, the server included, can
issue another certificate under it. `ca.pem` is what phones install.
"""
import datetime
import ipaddress
import os
import shutil
import socket
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import file_lock

CERT_NAME = "cert.pem"  # the server's certificate followed by the CA's: the chain it serves
KEY_NAME = "key.pem"
CA_NAME = "ca.pem"  # the name-constrained CA phones install
LOCK_NAME = ".create-lock"  # held while a certificate is made
# Apple devices refuse TLS server certificates valid for longer than 825 days.
DEFAULT_DAYS = 825
# Documentation addresses (RFC 5737, RFC 3849): connecting a UDP socket to them
# only picks the outgoing interface; no packet is sent.
_PROBE_TARGETS = ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1"))
_IP_COMMAND_TIMEOUT = 5
_CLOCK_SKEW = datetime.timedelta(minutes=5)


def local_addresses() -> list[str]:
    """List this machine's non-loopback IPv4 and IPv6 addresses (IPv4 first) without extra deps."""
    found = set()
    for text in _addresses_from_resolver() + _addresses_from_routes() + _addresses_from_ip_command():
        address = _parse_ip(text)
        if address is not None and _usable(address):
            found.add(address)
    return [str(a) for a in sorted(found, key=lambda a: (a.version, int(a)))]


def _parse_ip(text):
    """Return an ip_address for text (dropping an IPv6 zone id), or None."""
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def _usable(address) -> bool:
    """Keep addresses another device could open a URL with."""
    if address.is_loopback or address.is_unspecified or address.is_multicast:
        return False
    return not (address.version == 6 and address.is_link_local)


def _addresses_from_resolver() -> list[str]:
    """Addresses the host name resolves to (often only loopback, but cheap to ask)."""
    names = {socket.gethostname()}
    try:
        names.add(socket.getfqdn())
    except OSError:
        pass
    found = []
    for name in names:
        try:
            found += [info[4][0] for info in socket.getaddrinfo(name, None)]
        except (OSError, UnicodeError):
            continue
    return found


def _addresses_from_routes() -> list[str]:
    """Source address of the default route per family, by connecting a UDP socket (sends nothing)."""
    found = []
    for family, target in _PROBE_TARGETS:
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect((target, 9))
                found.append(probe.getsockname()[0])
        except OSError:
            continue
    return found


def _addresses_from_ip_command() -> list[str]:
    """Every interface address from `ip -o addr` on Linux; nothing where `ip` is missing."""
    ip = shutil.which("ip")
    if ip is None:
        return []
    try:
        result = subprocess.run([ip, "-o", "addr", "show"], capture_output=True, text=True,
                                timeout=_IP_COMMAND_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for line in result.stdout.splitlines():
        words = line.split()
        for index, word in enumerate(words[:-1]):
            if word in ("inet", "inet6"):
                found.append(words[index + 1].split("/", 1)[0])
    return found


def host_names() -> list[str]:
    """This machine's DNS names: the host name, `<name>.local` (mDNS) and the FQDN."""
    names = []
    hostname = socket.gethostname()
    try:
        fqdn = socket.getfqdn()
    except OSError:
        fqdn = hostname
    for name in (hostname, f"{hostname}.local" if "." not in hostname else None, fqdn):
        try:
            name = name and _dns_name(name)
        except ValueError:
            continue
        if name and name != "localhost" and name not in names:
            names.append(name)
    return names


def _dns_name(name: str) -> str:
    """Normalise a DNS name for a SAN (lower case, IDNA A-labels) or raise ValueError."""
    name = name.strip().rstrip(".").lower()
    if not name or any(c.isspace() or c in "/:@[]" for c in name):
        raise ValueError(f"not a host name or IP address: {name!r}")
    try:
        name = name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError as exc:
        raise ValueError(f"not a valid host name: {name!r}") from exc
    return name


def general_name(host: str) -> x509.GeneralName:
    """Turn `host` (an IP, `[IPv6]` or a DNS name) into a SAN entry, or raise ValueError."""
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    address = _parse_ip(text) if "%" not in text else None
    if address is not None:
        return x509.IPAddress(address)
    return x509.DNSName(_dns_name(text))


def subject_alternative_names(extra_hosts=()) -> list[x509.GeneralName]:
    """Collect the SANs: localhost, loopback, host names, local addresses, then extra hosts."""
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
             x509.IPAddress(ipaddress.ip_address("::1"))]
    names += [x509.DNSName(name) for name in host_names()]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in local_addresses()]
    names += [general_name(host) for host in extra_hosts]
    unique = []
    for name in names:
        if name not in unique:
            unique.append(name)
    return unique


def ensure_certificate(cert_dir, days: int = DEFAULT_DAYS, extra_hosts=(), force: bool = False):
    """Create `cert.pem` (with its chain), `key.pem` (0600) and `ca.pem` unless a pair exists.

    A lone cert.pem or key.pem is not a usable pair and is replaced.
    :return: (cert_path, key_path, created)
    """
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError("days must be a positive integer")
    sans = subject_alternative_names(extra_hosts)  # raises ValueError before touching files
    directory = Path(cert_dir)
    cert_path, key_path = directory / CERT_NAME, directory / KEY_NAME
    if cert_path.exists() and key_path.exists() and not force:
        return cert_path, key_path, False
    directory.mkdir(parents=True, exist_ok=True)
    # Two servers starting together on one folder would each write a key and a certificate,
    # and one could end up serving the other's certificate with its own key.
    with file_lock.exclusive(directory / LOCK_NAME):
        if cert_path.exists() and key_path.exists() and not force:
            return cert_path, key_path, False
        return _create(directory, cert_path, key_path, sans, days)


def _create(directory, cert_path, key_path, sans, days):
    """Make the one-time CA, the key and the certificate, and write them (under the lock)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())  # used for one signature, never stored
    authority = build_authority(ca_key, sans, days)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = build_certificate(key, sans, days, authority, ca_key)
    del ca_key
    pem = serialization.Encoding.PEM
    _write_atomically(key_path, key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), mode=0o600)
    _write_atomically(directory / CA_NAME, authority.public_bytes(pem), mode=0o644)
    _write_atomically(cert_path, cert.public_bytes(pem) + authority.public_bytes(pem), mode=0o644)
    return cert_path, key_path, True


def _name(common_name):
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SendApp"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
    ])


def _validity(days):
    """Apple counts not_before..not_after, so the skew allowance comes out of `days`."""
    not_before = datetime.datetime.now(datetime.timezone.utc) - _CLOCK_SKEW
    return not_before, not_before + datetime.timedelta(days=days)


def _permitted(sans):
    """NameConstraints subtrees allowing exactly these names and single addresses."""
    subtrees = []
    for name in sans:
        if isinstance(name, x509.IPAddress):
            prefix = 32 if name.value.version == 4 else 128
            subtrees.append(x509.IPAddress(ipaddress.ip_network(f"{name.value}/{prefix}")))
        else:
            subtrees.append(name)
    return subtrees


def build_authority(ca_key, sans, days: int) -> x509.Certificate:
    """A self-signed CA that may vouch only for `sans`, for TLS servers, and for no other CA."""
    name = _name(f"SendApp CA for {socket.gethostname()} only")
    not_before, not_after = _validity(days)
    ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.NameConstraints(permitted_subtrees=_permitted(sans),
                                            excluded_subtrees=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def build_certificate(key, sans, days: int, authority, ca_key) -> x509.Certificate:
    """The server's certificate (not a CA, TLS server only), signed by the one-time CA."""
    not_before, not_after = _validity(days)
    ca_ski = authority.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(_name(f"SendApp on {socket.gethostname()}"))
        .issuer_name(authority.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write via a temporary file created with `mode`, so a key is never readable by others."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.unlink(missing_ok=True)  # a leftover from a crash; O_EXCL then refuses symlinks
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def load_certificate(cert_path) -> x509.Certificate:
    """Read a PEM certificate (the first one of a chain file)."""
    return x509.load_pem_x509_certificate(Path(cert_path).read_bytes())


def authority_path(cert_path):
    """The CA file next to `cert_path`; None for a certificate made before there was one."""
    path = Path(cert_path).with_name(CA_NAME)
    return path if path.exists() else None


def can_sign_certificates(cert_path) -> bool:
    """True for a certificate that is itself an unconstrained CA (what older versions made)."""
    extensions = load_certificate(cert_path).extensions
    try:
        return extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def certificate_sans(cert_path) -> list[str]:
    """List the certificate's DNS names and IP addresses, as strings, in certificate order."""
    try:
        extension = load_certificate(cert_path).extensions.get_extension_for_class(
            x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return [str(name.value) for name in extension.value
            if isinstance(name, (x509.DNSName, x509.IPAddress))]


def certificate_fingerprint(cert_path) -> str:
    """SHA-256 fingerprint (of the first certificate in the file) as colon-separated hex,
    the form phones show when installing."""
    digest = load_certificate(cert_path).fingerprint(hashes.SHA256())
    return ":".join(f"{byte:02X}" for byte in digest)
