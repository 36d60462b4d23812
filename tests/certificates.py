"""A self-signed app certificate, as an Entra app registration holds for certificate credentials."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class AppCertificate:
    """An RSA key and its self-signed certificate.

    :param key: the private key.
    :param cert: the certificate.
    """

    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @property
    def key_pem(self) -> str:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    @property
    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def sha1(self) -> str:
        """The SHA-1 thumbprint, lower-case hex."""
        return self.cert.fingerprint(hashes.SHA1()).hex()

    def write_pem(self, path: Path) -> Path:
        """Write the key and the certificate into one PEM file, as a connection's ``certificate_path``.

        :param path: where.
        """
        path.write_text(self.key_pem + self.cert_pem)
        return path


def app_certificate(common_name: str = "xops connector") -> AppCertificate:
    """A new RSA key with a self-signed certificate valid from a minute ago for a day.

    :param common_name: the certificate's subject.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return AppCertificate(key=key, cert=cert)
