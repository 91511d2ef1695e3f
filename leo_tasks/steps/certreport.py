"""`leo certs`: each installed certificate of an app, and whether one expires soon.

`read` gathers the facts once into a `CertReport`; `lines` (text) and
`as_json` (--json) are two renderings of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..certs import CertInfo
from ..commands import fs
from ..jsonout import iso_utc
from ..layout import AppPaths
from .base import Host
from .tls import current


@dataclass(frozen=True)
class Installed:
    """The certificate `letsencrypt/live/<name>` points at."""

    name: str  # the live directory: the certificate's first domain
    info: CertInfo
    days_left: float

    def expiring(self, days: float) -> bool:
        return self.days_left <= days


@dataclass(frozen=True)
class CertReport:
    certificates: list[Installed]
    days: float  # "expiring" means within this many days

    @property
    def expiring(self) -> bool:
        return any(c.expiring(self.days) for c in self.certificates)


def read(host: Host, paths: AppPaths, days: float, now: datetime | None = None) -> CertReport:
    listing = host.remote.run(fs.list_dir(f"{paths.letsencrypt_dir}/live"), check=False)
    now = now or datetime.now(UTC)
    found = []
    for name in sorted(listing.stdout.split()):
        info = current(host, paths, name)
        if info is not None:
            found.append(Installed(name, info, info.days_left(now)))
    return CertReport(found, days)


def lines(report: CertReport) -> list[str]:
    out = []
    for cert in report.certificates:
        info = cert.info
        flag = "  EXPIRES SOON" if cert.expiring(report.days) else ""
        out.append(
            f"{', '.join(info.domains)}  issuer {info.issuer}  expires "
            f"{info.not_after:%Y-%m-%d %H:%M} UTC ({cert.days_left:.0f} days){flag}"
        )
    return out or ["no certificate"]


def as_json(report: CertReport) -> dict[str, Any]:
    """The same facts for --json (see schemas/certs.schema.json)."""
    return {
        "days": report.days,
        "expiring": report.expiring,
        "certificates": [
            {
                "domain": cert.name,
                "domains": list(cert.info.domains),
                "issuer": cert.info.issuer,
                "not_after": iso_utc(cert.info.not_after),
                "days_left": round(cert.days_left, 2),
                "expiring": cert.expiring(report.days),
            }
            for cert in report.certificates
        ],
    }
