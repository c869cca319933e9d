"""Server certificates: PEM files given by the operator, or a self-signed dev certificate.

Like EventStoreDB's `--dev` mode, the dev certificate is self-signed, names `localhost`,
127.0.0.1 and ::1 (plus any extra hosts) as subject alternative names, and is valid
for one month. It is kept in a directory so that restarts present the same
certificate (clients keep trusting it); it is made afresh when missing, unreadable,
about to expire or not covering a required host. The private key file is 0600.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

import grpc
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_log = structlog.get_logger("esdb_emulator.node.tls")

DEV_CERT_VALIDITY = datetime.timedelta(days=30)
#: A kept dev certificate closer than this to its expiry is replaced at start.
DEV_CERT_RENEW_BEFORE = datetime.timedelta(days=1)
DEV_CERT_FILE = "dev-cert.pem"
DEV_KEY_FILE = "dev-key.pem"
_DEFAULT_DEV_HOSTS = ("localhost", "127.0.0.1", "::1")
_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})  # noqa: S104 - names, not binds


class TlsConfigError(ValueError):
    """A certificate or key cannot be used; the message names the file and the reason."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """An operator's certificate chain and private key (PEM)."""

    cert: Path
    key: Path


@dataclass(frozen=True, slots=True)
class DevCertificate:
    """A self-signed dev certificate kept in `directory`, covering `extra_hosts` too."""

    directory: Path
    extra_hosts: tuple[str, ...] = ()


TlsSettings = TlsFiles | DevCertificate


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    """What the server presents, and the file a client can trust (None: the operator's CA)."""

    cert_pem: bytes
    key_pem: bytes
    ca_file: Path | None

    def server_credentials(self) -> grpc.ServerCredentials:
        """gRPC credentials for a TLS port, without client certificates."""
        return grpc.ssl_server_credentials([(self.key_pem, self.cert_pem)])


def load_tls(settings: TlsSettings) -> TlsMaterial:
    """Read the operator's files, or reuse or make the dev certificate; raises TlsConfigError."""
    if isinstance(settings, TlsFiles):
        return _load_files(settings)
    return _dev_material(settings)


def certificate_hosts(host: str, advertise_host: str | None) -> tuple[str, ...]:
    """The bind and advertised hosts a dev certificate must name besides the defaults."""
    named = (h for h in (host, advertise_host) if h and h not in _WILDCARD_HOSTS)
    return tuple(dict.fromkeys(h.strip("[]") for h in named))


def _load_files(files: TlsFiles) -> TlsMaterial:
    cert_pem = _read(files.cert, "certificate")
    key_pem = _read(files.key, "private key")
    try:
        chain = x509.load_pem_x509_certificates(cert_pem)
    except ValueError as error:
        raise TlsConfigError(f"{files.cert}: not a PEM certificate ({error})") from error
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as error:
        raise TlsConfigError(
            f"{files.key}: not an unencrypted PEM private key ({error})"
        ) from error
    if key.public_key() != chain[0].public_key():
        raise TlsConfigError(f"{files.key} is not the private key of {files.cert}")
    return TlsMaterial(cert_pem=cert_pem, key_pem=key_pem, ca_file=None)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise TlsConfigError(f"cannot read the TLS {what} {path}: {error.strerror}") from error


def _dev_material(dev: DevCertificate) -> TlsMaterial:
    hosts = tuple(dict.fromkeys((*_DEFAULT_DEV_HOSTS, *dev.extra_hosts)))
    cert_path = dev.directory / DEV_CERT_FILE
    key_path = dev.directory / DEV_KEY_FILE
    kept = _usable_dev_certificate(cert_path, key_path, hosts)
    if kept is not None:
        return kept
    cert_pem, key_pem, expires = _make_self_signed(hosts)
    _write_dev_files(dev.directory, cert_pem, key_pem)
    _log.info(
        "tls.dev_certificate_created", cert=str(cert_path), hosts=list(hosts), expires=expires
    )
    return TlsMaterial(cert_pem=cert_pem, key_pem=key_pem, ca_file=cert_path)


def _usable_dev_certificate(
    cert_path: Path, key_path: Path, hosts: tuple[str, ...]
) -> TlsMaterial | None:
    """The kept dev certificate if it still serves `hosts` for a while; None otherwise."""
    if not (cert_path.exists() and key_path.exists()):
        return None
    try:
        material = _load_files(TlsFiles(cert_path, key_path))
        cert = x509.load_pem_x509_certificate(material.cert_pem)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (TlsConfigError, ValueError, x509.ExtensionNotFound) as error:
        _log.warning("tls.dev_certificate_replaced", cert=str(cert_path), reason=str(error))
        return None
    now = datetime.datetime.now(datetime.UTC)
    if cert.not_valid_after_utc - now < DEV_CERT_RENEW_BEFORE:
        _log.info("tls.dev_certificate_expiring", cert=str(cert_path))
        return None
    if not set(_general_names(hosts)) <= set(names):
        return None
    return TlsMaterial(material.cert_pem, material.key_pem, ca_file=cert_path)


def _make_self_signed(hosts: tuple[str, ...]) -> tuple[bytes, bytes, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    expires = now + DEV_CERT_VALIDITY
    key_usage = x509.KeyUsage(
        digital_signature=True,
        key_encipherment=False,
        content_commitment=False,
        data_encipherment=False,
        key_agreement=True,
        key_cert_sign=True,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(expires)
        .add_extension(x509.SubjectAlternativeName(_general_names(hosts)), critical=False)
        # Self-signed and trusted as its own root, so it is a CA as well as a server cert.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(key_usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem, expires.isoformat()


def _general_names(hosts: tuple[str, ...]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _write_dev_files(directory: Path, cert_pem: bytes, key_pem: bytes) -> None:
    """Write key then certificate, each through a temporary file and a rename."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _write_atomically(directory / DEV_KEY_FILE, key_pem, mode=0o600)
        _write_atomically(directory / DEV_CERT_FILE, cert_pem, mode=0o644)
    except OSError as error:
        raise TlsConfigError(
            f"cannot write the dev certificate into {directory}: {error.strerror}"
        ) from error


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    scratch = path.with_name(f".{path.name}.tmp")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(scratch, mode)
        os.replace(scratch, path)
    except BaseException:
        scratch.unlink(missing_ok=True)
        raise
