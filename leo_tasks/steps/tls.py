"""`leo letsencrypt` and `leo certs`: certificates issued from the client, served by every host.

The ACME client runs where leo runs. Each HTTP-01 response is put on every
host and checked through that host's own nginx before the CA is asked to
validate, so it does not matter which host the CA reaches: one host or a fleet
behind one name. The certificate key is made in memory and written only to
the hosts (0600), next to the chain; nginx switches to it after `nginx -t`.
Nothing is installed anywhere unless the CA issued the certificate.
"""

from __future__ import annotations

import contextlib
import shlex
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime

from .. import certs, templates
from ..acme_client import AcmeSession, AcmeSettings, Challenge
from ..commands import fs
from ..envfile import EnvFile
from ..errors import InvalidInput, LeoError, StepFailed
from ..layout import AppPaths
from . import nginx
from .base import Host, read_file

CHALLENGE_DIR = ".well-known/acme-challenge"
KEEP_ARCHIVES = 3


def site_domains(host: Host, paths: AppPaths) -> list[str]:
    site = read_file(host, paths.nginx_conf)
    if site is None:
        raise StepFailed(f"app {paths.app!r} does not exist on {host.name}")
    if paths.tls_conf not in site:
        raise StepFailed(
            f"{paths.nginx_conf} on {host.name} does not include {paths.tls_conf}: add "
            f"`include {paths.tls_conf};` inside its server block so leo can enable HTTPS"
        )
    return certs.server_names(site)


def current(host: Host, paths: AppPaths, domain: str) -> certs.CertInfo | None:
    pem = read_file(host, f"{paths.live_certificate(domain)}/fullchain.pem")
    return certs.parse_certificate(pem) if pem else None


@dataclass(frozen=True)
class Issued:
    """A certificate to install on every host: its domains, private key and chain."""

    domains: list[str]
    key: bytes
    chain: str


def letsencrypt(
    hosts: list[Host],
    paths: AppPaths,
    domains: list[str],
    settings: AcmeSettings,
    *,
    days: float,
    force: bool,
) -> Issued | None:
    """Get a certificate for the app when one is due on any host (or `force`), with
    the HTTP-01 challenge served by every host, wherever the domain points. The
    caller installs it on every host (`install`). None when nothing is due."""
    first = hosts[0]
    with first.step("check certificates") as line:
        for host in hosts:
            names = site_domains(host, paths)
            domains = domains or names
        certs.check_domains(domains)
        due = [h.name for h in hosts if certs.is_due(current(h, paths, domains[0]), domains, days)]
        line.outcome = (
            f"due on {', '.join(due)}"
            if due
            else f"valid for more than {days:g} days on every host"
        )
    if not due and not force:
        return None

    email = settings.email or _env(first, paths).get("LETS_ENCRYPT_EMAIL") or None
    settings = AcmeSettings(settings.directory, settings.ca_bundle, email, settings.timeout)
    with first.step("ACME account") as line:
        session = AcmeSession(settings, _account_key(hosts, paths, settings))
        line.outcome = session.register()

    key = certs.new_certificate_key()
    with first.step(f"certificate for {', '.join(domains)}") as line:
        chain = session.issue(
            domains,
            key,
            publish=lambda files: _publish(hosts, paths, files, domains[0]),
            withdraw=lambda files: _withdraw(hosts, paths, files),
        )
        info = certs.parse_certificate(chain)
        line.outcome = f"issued by {info.issuer}, valid until {info.not_after:%Y-%m-%d}"
    return Issued(domains, key, chain)


def _env(host: Host, paths: AppPaths) -> dict[str, str]:
    return EnvFile.parse(read_file(host, paths.env_file) or "").values()


def _account_key(hosts: list[Host], paths: AppPaths, settings: AcmeSettings) -> bytes:
    """The app's account key for this CA: from the first host that has it, else new.

    Kept on the hosts (0600) so that a laptop and a CI job renew as one account.
    """
    path = f"{paths.letsencrypt_dir}/account-{settings.account_id}.pem"
    found = {h.name: read_file(h, path) for h in hosts}
    key = next((text.encode() for text in found.values() if text), None) or certs.new_account_key()
    for host in hosts:
        if found[host.name] is None:
            host.remote.put(key, path, mode=0o600)
    return key


def _publish(hosts: list[Host], paths: AppPaths, files: list[Challenge], domain: str) -> None:
    """Put every challenge file on every host and check each host serves them.

    On failure, every file written so far is removed from every host before the
    error goes on: acme_client calls `withdraw` only after publishing succeeded,
    and a half-published challenge would otherwise stay on the hosts for good.
    """
    with contextlib.ExitStack() as undo:
        for host in hosts:
            written: list[str] = []  # filled as files are put; the undo reads it then
            undo.callback(_remove_quietly, host, written)
            _publish_on(host, paths, files, domain, written)
        undo.pop_all()  # published everywhere: withdraw's job from here on


def _publish_on(
    host: Host, paths: AppPaths, files: list[Challenge], domain: str, written: list[str]
) -> None:
    directory = _challenge_dir(paths)
    with host.step("publish HTTP-01 challenge") as line:
        host.remote.run(["mkdir", "-p", "-m", "755", "--", directory])
        for token, content in files:
            path = f"{directory}/{token}"
            written.append(path)  # before put: a put that fails part-way may leave it
            host.remote.put(content.encode(), path, mode=0o644)
            # Fetch it through this host's own nginx, as the CA will.
            url = f"http://127.0.0.1/{CHALLENGE_DIR}/{token}"
            got = host.remote.run(
                ["curl", "--silent", "--max-time", "5", "--header", f"Host: {domain}", "--", url],
                check=False,
            ).stdout
            if got != content:
                raise LeoError(
                    f"{host.name} does not serve the ACME challenge through nginx "
                    f"({url} with Host: {domain} gave {got[:80]!r}). Check the site's "
                    f"`location ^~ /{CHALLENGE_DIR}/` and that nginx's workers can "
                    f"traverse {paths.dir} (directories 0711)"
                )
        line.outcome = f"{len(files)} served through nginx" if files else "none needed"


def _withdraw(hosts: list[Host], paths: AppPaths, files: list[Challenge]) -> None:
    directory = _challenge_dir(paths)
    for host in hosts:
        _remove(host, [f"{directory}/{token}" for token, _ in files])


def _challenge_dir(paths: AppPaths) -> str:
    return f"{paths.webroot}/{CHALLENGE_DIR}"


def _remove(host: Host, files: list[str]) -> None:
    if files:
        host.remote.run(["rm", "-f", "--", *files], check=False)


def _remove_quietly(host: Host, files: list[str]) -> None:
    """Clean-up while another error is on its way: that error is the one to report."""
    try:
        _remove(host, files)
    except LeoError as exc:
        host.note(f"could not remove the ACME challenge files: {exc}")


def install(host: Host, paths: AppPaths, domains: list[str], key: bytes, chain: str) -> None:
    """Write key and chain, switch the `live` symlink, enable HTTPS; undo it all if nginx
    -t fails."""
    with host.step("install certificate") as line:
        run = host.remote.run
        live = paths.live_certificate(domains[0])
        name = f"{domains[0]}-{datetime.now(UTC):%Y%m%d%H%M%S}"
        archive = f"{paths.letsencrypt_dir}/archive/{name}"
        run(["mkdir", "-p", "-m", "700", "--", archive, f"{paths.letsencrypt_dir}/live"])
        host.remote.put(key, f"{archive}/privkey.pem", mode=0o600)
        host.remote.put(chain.encode(), f"{archive}/fullchain.pem", mode=0o644)
        previous = run(["readlink", "--", live], check=False).stdout.strip() or None
        try:
            # One nginx transaction: the symlink and tls.conf are put back unless
            # nginx tests, reloads and runs with them (a reload that fails would
            # otherwise leave tls.conf naming a certificate nginx cannot load).
            with nginx.transaction(
                host, failing=f"nginx -t rejected the new certificate on {host.name}"
            ) as txn:
                _point(host, live, f"../archive/{name}")
                txn.do_undo(
                    f"point {live} back",
                    lambda: _point(host, live, previous) if previous else run(fs.remove_file(live)),
                )
                txn.write(nginx.FileChange(paths.tls_conf, templates.tls(paths, domains, live)))
                txn.reload_anyway()  # the same tls.conf may now name new files
        except LeoError:
            run(fs.remove_tree(archive), check=False)
            raise
        _prune(host, paths, domains[0])
        line.outcome = f"HTTPS on for {', '.join(domains)}"


def _point(host: Host, link: str, target: str) -> None:
    """Atomically (re)point a symlink: create beside it, rename over it."""
    host.remote.run(
        [
            "sh",
            "-c",
            'ln -sfn -- "$1" "$2.leo-new" && mv -T -- "$2.leo-new" "$2"',
            "sh",
            target,
            link,
        ]
    )


def _prune(host: Host, paths: AppPaths, domain: str) -> None:
    listing = host.remote.run(fs.list_dir(f"{paths.letsencrypt_dir}/archive"), check=False)
    mine = sorted(n for n in listing.stdout.split() if n.startswith(f"{domain}-"))
    old = [f"{paths.letsencrypt_dir}/archive/{n}" for n in mine[:-KEEP_ARCHIVES]]
    if old:
        host.remote.run(["rm", "-rf", "--", *old])


CRON_MARK = "# leo:letsencrypt:"


def cron_line(app: str, leo_path: str, args: list[str], log: str) -> str:
    """A daily renewal with absolute paths: cron's PATH holds neither leo nor sbin."""
    spread = zlib.crc32(app.encode())  # apps renew at different minutes
    minute, hour = spread % 60, spread // 60 % 12
    argv = [
        "env",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        leo_path,
        "letsencrypt",
        "--app",
        app,
        "--host",
        "local",
        *args,
    ]
    for arg in [*argv, log]:
        _check_cron_arg(arg)
    command = f"{shlex.join(argv)} >> {shlex.quote(log)} 2>&1"
    return f"{minute} {hour},{hour + 12} * * * {cron_escape(command)} {CRON_MARK}{app}"


def cron_escape(command: str) -> str:
    """`command` as a crontab command field: every `%` written as `\\%`.

    cron turns an unescaped `%` into a newline (the rest becomes the command's
    stdin) and removes the backslash of `\\%` before the shell sees the line,
    so this is independent of, and applied after, the shell quoting.
    """
    return command.replace("%", "\\%")


def _check_cron_arg(arg: str) -> None:
    # A crontab entry is one line: a newline would end it, and the rest would be
    # read as another entry.
    if "\n" in arg or "\r" in arg:
        raise InvalidInput(f"a renewal cron job cannot pass an argument with a line break: {arg!r}")
    # cron's backslash escapes the next character: an argument's own backslash
    # before `%` would pair with the one cron_escape adds, leaving that `%`
    # unescaped (a newline). Rare enough to refuse rather than work around.
    if "\\%" in arg:
        raise InvalidInput(f"a renewal cron job cannot pass a backslash before '%': {arg!r}")


def schedule(host: Host, paths: AppPaths, leo_path: str | None, args: list[str]) -> bool:
    """Install (or update) the app's renewal line in leo-deploy's crontab; other lines stay."""
    run = host.remote.run
    if not leo_path:
        found = run(["sh", "-lc", "command -v leo"], check=False).stdout.strip()
        if not found:
            raise StepFailed(
                f"leo is not installed on {host.name} (pip install leo_tasks there), "
                "or pass --leo /absolute/path/to/leo"
            )
        leo_path = found
    if not leo_path.startswith("/") or not run(["test", "-x", leo_path], check=False).ok:
        raise StepFailed(f"{leo_path} is not an executable absolute path on {host.name}")
    return _set_cron_line(
        host, paths.app, cron_line(paths.app, leo_path, args, f"{paths.letsencrypt_dir}/renew.log")
    )


def unschedule(host: Host, paths: AppPaths) -> bool:
    """Remove the app's renewal line from leo-deploy's crontab, if there is one."""
    return _set_cron_line(host, paths.app, None)


def _set_cron_line(host: Host, app: str, line: str | None) -> bool:
    """Replace (or drop) the line marked for `app`; every other line stays as it is."""
    listing = host.remote.run(["crontab", "-l"], check=False)
    current_lines = listing.stdout.splitlines() if listing.ok else []
    wanted = [ln for ln in current_lines if not ln.endswith(f"{CRON_MARK}{app}")]
    if line is not None:
        wanted.append(line)
    if wanted == current_lines:
        return False
    host.remote.run(["crontab", "-"], stdin="".join(f"{ln}\n" for ln in wanted))
    return True
