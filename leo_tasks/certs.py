"""Certificates and keys, in memory: generate, parse, decide whether one is due.

Pure functions over PEM bytes (cryptography). A certificate's private key is
generated here and only ever written to the hosts, never to the client's disk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from .errors import InvalidInput, LeoError


@dataclass(frozen=True)
class CertInfo:
    domains: tuple[str, ...]
    issuer: str
    not_after: datetime

    def days_left(self, now: datetime | None = None) -> float:
        return (self.not_after - (now or datetime.now(UTC))) / timedelta(days=1)

    def covers(self, domains: list[str]) -> bool:
        return set(domains) <= set(self.domains)


def new_account_key() -> bytes:
    """RSA 2048 (RS256): accepted by every ACME CA."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def new_certificate_key() -> bytes:
    """ECDSA P-256: small, fast, supported by every TLS 1.2+ client."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def parse_certificate(pem: bytes | str) -> CertInfo:
    """The leaf (first certificate) of a PEM chain."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise LeoError(f"not a PEM certificate: {exc}") from exc
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = tuple(san.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = ()
    issuer = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    return CertInfo(
        domains=names,
        issuer=str(issuer[0].value) if issuer else cert.issuer.rfc4514_string(),
        not_after=cert.not_valid_after_utc,
    )


def is_due(info: CertInfo | None, domains: list[str], days: float) -> bool:
    """True when a certificate must be requested: missing, other domains, or expiring."""
    return info is None or not info.covers(domains) or info.days_left() <= days


_SERVER_NAME = re.compile(r"(?<![\w$])server_name\s+([^;]+);")


def server_names(nginx_conf: str) -> list[str]:
    """Every name in the site's `server_name` directives (multi-line ones too), in order."""
    text = re.sub(r"#[^\n]*", "", nginx_conf)
    names: list[str] = []
    for match in _SERVER_NAME.finditer(text):
        for name in (n.lower() for n in match.group(1).split()):
            if name not in names and name != "_" and not name.startswith("~"):
                names.append(name)
    return names


def check_domains(domains: list[str]) -> list[str]:
    if not domains:
        raise InvalidInput("no domain: pass --domain, or give the site a server_name")
    for name in domains:
        if name.startswith("*"):
            raise InvalidInput(f"{name}: wildcard certificates need DNS-01; leo uses HTTP-01")
        if "." not in name:
            raise InvalidInput(f"{name!r} is not a public domain name (a CA will refuse it)")
    return domains
