"""The certificate tasks: `leo letsencrypt`, `letsencrypt.schedule`, `certs`."""

from __future__ import annotations

import time

from invoke import Collection, Exit

from . import validate
from .errors import LockHeld
from .fleet import conclude
from .history import Audit
from .jsonout import Document
from .layout import AppPaths
from .steps import certreport
from .steps import history as history_step
from .steps import tls as tls_step
from .steps.base import Host
from .taskkit import (
    acme_settings,
    cli_errors,
    connected,
    each_host,
    each_host_read,
    leo_task,
    parse_days,
    print_lines,
    recorded,
    resolve,
)

ACME_HELP = {
    "email": "contact for the CA (default: LETS_ENCRYPT_EMAIL in the app's env file)",
    "domain": "domain for the certificate (repeatable; default: the site's server_names)",
    "directory": "ACME directory URL (default: Let's Encrypt production)",
    "staging": "use Let's Encrypt's staging directory",
    "ca-bundle": "CA file to trust for the ACME server (e.g. Pebble's; or REQUESTS_CA_BUNDLE)",
    "days": "renew when a certificate expires within this many days (default 30)",
    "force": "request a new certificate even if the current one is not due",
}


@leo_task(name="letsencrypt", default=True, iterable=["domain"], help=ACME_HELP)
@cli_errors
def letsencrypt_issue(
    c,
    app=None,
    host=None,
    email=None,
    domain=None,
    directory=None,
    staging=False,
    ca_bundle=None,
    days=None,
    force=False,
    verbose=False,
):
    """Get or renew the app's certificate (HTTP-01 on every host) and serve HTTPS."""
    app, hosts = resolve(c, app, host)
    settings = acme_settings(directory, staging, ca_bundle, email)
    domains = [validate.domain(d) for d in (domain or [])]
    due_days = parse_days(days)
    paths = AppPaths(app)
    audit = Audit(
        "letsencrypt",
        app,
        {"domain": domains, "directory": settings.directory, "force": force, "days": days},
    )
    with connected(c, hosts, verbose) as fleet:
        started = time.monotonic()
        # One order for all hosts: the challenge is on every host before the CA
        # asks whichever one the domain points at. A certificate not yet due
        # changed nothing and is not recorded (the renewal job asks twice a day).
        try:
            issued = tls_step.letsencrypt(
                fleet.hosts, paths, domains, settings, days=due_days, force=force
            )
        except LockHeld:
            raise
        except BaseException as exc:
            for h in fleet.hosts:
                history_step.record(h, audit, started=started, exc=exc)
            raise
        if issued is not None:
            outcomes = fleet.each(
                recorded(
                    lambda h: tls_step.install(h, paths, issued.domains, issued.key, issued.chain),
                    audit,
                    started=started,
                )
            )
            conclude(fleet, outcomes, "installing the certificate")


@leo_task(
    name="schedule",
    help={
        "leo": "absolute path of leo on the server (default: `command -v leo` there)",
        **{
            k: v
            for k, v in ACME_HELP.items()
            if k in ("directory", "staging", "ca-bundle", "email")
        },
    },
)
@cli_errors
def letsencrypt_schedule(
    c,
    app=None,
    host=None,
    leo=None,
    directory=None,
    staging=False,
    ca_bundle=None,
    email=None,
    verbose=False,
):
    """Install a twice-daily renewal job in leo-deploy's crontab on the server (--host local)."""
    app, hosts = resolve(c, app, host)
    args: list[str] = []
    if directory:
        args += ["--directory", directory]
    if staging:
        args.append("--staging")
    if ca_bundle:
        args += ["--ca-bundle", ca_bundle]
    if email:
        args += ["--email", email]
    # Refuse what cannot go into a crontab line (a newline) before connecting.
    tls_step.cron_line(app, leo or "/usr/local/bin/leo", args, "/dev/null")

    def action(h: Host) -> None:
        with h.step("renewal cron job") as line:
            changed = tls_step.schedule(h, AppPaths(app), leo, args)
            line.outcome = "installed" if changed else "unchanged"

    audit = Audit(
        "letsencrypt.schedule",
        app,
        {"leo": leo, "directory": directory, "staging": staging, "ca_bundle": ca_bundle},
    )
    each_host(c, hosts, verbose, action, what="letsencrypt.schedule", audit=audit)


@leo_task(help={"days": "exit 1 when a certificate expires within this many days (default 30)"})
@cli_errors
def certs(c, app=None, host=None, days=None, json=False, verbose=False):
    """Print each host's certificates for the app: domains, issuer, expiry."""
    app, hosts = resolve(c, app, host)
    limit = parse_days(days)
    out = Document("certs", app) if json else None
    expiring: list[str] = []

    def show(h: Host, found: certreport.CertReport) -> None:
        if out:
            out.add(h, certreport.as_json(found))
        else:
            print_lines(h, certreport.lines(found))
        if found.expiring:
            expiring.append(h.name)

    each_host_read(
        c, hosts, verbose, lambda h: certreport.read(h, AppPaths(app), limit), show, document=out
    )
    if expiring:
        raise Exit(
            f"leo: a certificate expires within {limit:g} days on {', '.join(expiring)}", code=1
        )


letsencrypt = Collection("letsencrypt", letsencrypt_issue, letsencrypt_schedule)
