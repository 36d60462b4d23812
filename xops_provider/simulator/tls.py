"""The simulator's test certificate authority and its loopback server certificate."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = dt.timedelta(days=825)


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsFiles:
    """Where the PEM files of one state directory live.

    :param ca_path: the CA certificate that clients trust (``ca.pem``).
    :param cert_path: the server certificate chain.
    :param key_path: the server private key (mode 0600).
    """

    ca_path: Path
    cert_path: Path
    key_path: Path


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "xops-provider simulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


#: The names the server certificate covers unless the caller adds its own (the compose demo does).
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def _alt_name(value: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(value))
    except ValueError:
        return x509.DNSName(value)


def ensure_tls(state_dir: Path, *, names: tuple[str, ...] = LOOPBACK_NAMES) -> TlsFiles:
    """Create the CA and the server certificate in ``state_dir`` unless they are already there.

    Reusing them across restarts keeps a client's trusted ``ca.pem`` valid for the same directory.

    :param state_dir: the simulator's state directory.
    :param names: the host names and addresses the server certificate covers; the first is its
        common name.
    """
    files = TlsFiles(
        ca_path=state_dir / "ca.pem",
        cert_path=state_dir / "server.pem",
        key_path=state_dir / "server-key.pem",
    )
    if files.ca_path.exists() and files.cert_path.exists() and files.key_path.exists():
        return files

    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("xops simulator test CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.SubjectAlternativeName([_alt_name(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    _write_private(
        files.key_path,
        server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    files.cert_path.write_bytes(server_cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    # The CA's key is not kept: nothing else is ever signed with it.
    files.ca_path.write_bytes(ca_cert.public_bytes(pem))
    return files
