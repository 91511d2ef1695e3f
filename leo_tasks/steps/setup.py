"""`leo setup`: prepare a server for leo. Check-then-act; a second run changes nothing.

Runs as root or as a sudoer (every privileged command goes through `sudo -n`).
"""

from __future__ import annotations

import base64
import hashlib
import re

from .. import templates
from ..commands import nginx as nginx_commands
from ..errors import InvalidInput, StepFailed
from ..facts import parse_default_servers, parse_nginx_version
from ..layout import (
    APPS_DIR,
    CHOWN_HELPER,
    DEPLOY_USER,
    HOME,
    NGINX_INCLUDE,
    SUDOERS_FILE,
)
from . import nginx
from .base import Host, read_file, write_if_changed

PUBKEY = re.compile(
    r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com"
    r"|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\n]*)?"
)

# Commands leo needs on the host, each with the Debian package that provides it.
REQUIRED = {
    "docker": "docker.io (or docker-ce)",
    "nginx": "nginx",
    "sudo": "sudo",
    "visudo": "sudo",
    "curl": "curl",
    "useradd": "passwd",
    "sha256sum": "coreutils",
    "install": "coreutils",
    "ps": "procps",
    "flock": "util-linux",
    "bash": "bash",  # lock holders use `read -t`
    "timeout": "coreutils",  # every command leo runs is bounded by it
}

# Prints one line per missing prerequisite; names arrive as arguments.
_CHECK = r"""
PATH="$PATH:/usr/sbin:/sbin"
for c in "$@"; do command -v "$c" >/dev/null 2>&1 || echo "missing $c"; done
command -v docker >/dev/null 2>&1 || exit 0
docker info >/dev/null 2>&1 || echo "engine docker"
v=$(docker compose version --short 2>/dev/null) || v=""
case "$v" in 2.*|v2.*) ;; *) echo "compose ${v:-absent}";; esac
"""

CHOWN_SCRIPT = f"""#!/bin/sh
# Installed by `leo setup`, removed by `leo implode`. Gives {HOME} back to
# {DEPLOY_USER} after containers running as root wrote into it. It takes no
# arguments on purpose: the sudoers rule allows exactly this command.
set -eu
exec chown -R -P {DEPLOY_USER}:{DEPLOY_USER} {HOME}
"""

# (path, mode) of the directories leo-deploy owns. The home and apps are
# traversable (0711) so nginx workers can read ACME challenge files.
DIRS = [(HOME, 0o711), (APPS_DIR, 0o711), (f"{HOME}/.ssh", 0o700)]


def check_pubkey(text: str, source: str) -> str:
    line = text.strip()
    if "\n" in line or not PUBKEY.fullmatch(line):
        raise InvalidInput(f"{source} is not a single OpenSSH public key line")
    try:  # the key's body must be base64 (a key cut short is not)
        base64.b64decode(line.split()[1], validate=True)
    except ValueError:
        raise InvalidInput(f"{source}: the key is not valid base64 (cut short?)") from None
    return line


def fingerprint(pubkey: str) -> str:
    """`ssh-keygen -l`'s SHA256 fingerprint of a key line, with its type and comment."""
    kind, blob, *comment = pubkey.split(maxsplit=2)
    digest = base64.b64encode(hashlib.sha256(base64.b64decode(blob)).digest()).decode()
    return " ".join([kind, f"SHA256:{digest.rstrip('=')}", *comment])


def sudoers(nginx_path: str) -> str:
    return (
        "# Installed by `leo setup`, removed by `leo implode`: exactly what leo-deploy needs.\n"
        f"{DEPLOY_USER} ALL=(root) NOPASSWD: {nginx_path} -t, {nginx_path} -s reload, "
        f"{CHOWN_HELPER}\n"
    )


def setup(host: Host, pubkey: str) -> None:
    run = host.remote.run
    with host.step("check prerequisites") as line:
        found = run(["sh", "-c", _CHECK, "sh", *REQUIRED], sudo=True).stdout.split("\n")
        problems = [_explain(item) for item in found if item.strip()]
        if problems:
            raise StepFailed(f"{host.name} is not ready for leo: " + "; ".join(problems))
        nginx_path = run(
            ["sh", "-c", 'PATH="$PATH:/usr/sbin:/sbin"; command -v nginx'], sudo=True
        ).stdout.strip()
        line.outcome = "ok"

    with host.step(f"user {DEPLOY_USER}") as line:
        line.outcome = "changed" if _ensure_user(host) else "unchanged"

    with host.step("directories") as line:
        line.outcome = "changed" if _ensure_dirs(host) else "unchanged"

    with host.step("authorized key") as line:
        keys_path = f"{HOME}/.ssh/authorized_keys"
        current = read_file(host, keys_path, sudo=True) or ""
        blob = " ".join(pubkey.split()[:2])
        if any(" ".join(k.split()[:2]) == blob for k in current.splitlines()):
            line.outcome = "unchanged"
        else:
            new = current + ("" if not current or current.endswith("\n") else "\n") + pubkey + "\n"
            host.remote.put(new.encode(), keys_path, mode=0o600, sudo=True, owner=DEPLOY_USER)
            line.outcome = "changed"

    with host.step(f"helper {CHOWN_HELPER}") as line:
        changed = write_if_changed(
            host, CHOWN_HELPER, CHOWN_SCRIPT, mode=0o755, sudo=True, owner="root"
        )
        line.outcome = "changed" if changed else "unchanged"

    with host.step(f"sudoers {SUDOERS_FILE}") as line:
        line.outcome = "changed" if _ensure_sudoers(host, sudoers(nginx_path)) else "unchanged"

    with host.step(f"nginx include {NGINX_INCLUDE}") as line:
        with nginx.transaction(
            host, failing=f"nginx -t rejects {NGINX_INCLUDE} on {host.name}", privileged=True
        ) as txn:
            content, notes = leo_conf_for(host, txn)
            txn.write(nginx.FileChange(NGINX_INCLUDE, content, 0o644, sudo=True))
        dump = run(nginx_commands.dump(), sudo=True, check=False).stdout
        if f"# configuration file {NGINX_INCLUDE}:" not in dump:
            raise StepFailed(
                f"nginx on {host.name} does not load {NGINX_INCLUDE}: add "
                "`include /etc/nginx/conf.d/*.conf;` to the http {} block of nginx.conf"
            )
        line.outcome = "changed" if txn.changed else "unchanged"
        line.details = notes


# ssl_reject_handshake (the HTTPS catch-all) exists since nginx 1.19.4.
REJECT_HANDSHAKE = (1, 19, 4)
_DUPLICATE_DEFAULT = re.compile(r"duplicate default server for \S*:(\d+)")


def leo_conf_for(host: Host, txn: nginx.Transaction) -> tuple[str, list[str]]:
    """leo.conf for this host: catch-all default servers unless nginx has its own.

    The host's default servers are read from `nginx -T`. When nginx cannot read
    its configuration because the host added a default server of its own next
    to leo's catch-all (nginx refuses two), that catch-all is dropped inside
    the transaction and nginx is asked again.
    """
    run = host.remote.run
    version = parse_nginx_version(run(nginx_commands.version(), check=False).stderr)
    theirs: set[int] = set()

    def render() -> str:
        https = 443 not in theirs and version >= REJECT_HANDSHAKE
        return templates.leo_conf(http_catch_all=80 not in theirs, https_catch_all=https)

    for _ in range(3):
        dump = run(nginx_commands.dump(), sudo=True, check=False)
        if dump.ok:
            theirs |= parse_default_servers(dump.stdout, exclude=[NGINX_INCLUDE])
            break
        clash = _DUPLICATE_DEFAULT.search(dump.stderr)
        if not clash or int(clash.group(1)) in theirs:
            break  # another problem: the transaction's nginx -t names it
        theirs.add(int(clash.group(1)))
        txn.write(nginx.FileChange(NGINX_INCLUDE, render(), 0o644, sudo=True))
    notes = [
        f"port {port} keeps the default_server the host's nginx already has"
        for port in sorted(theirs & {80, 443})
    ]
    if 443 not in theirs and version < REJECT_HANDSHAKE:
        notes.append(
            f"nginx {'.'.join(map(str, version)) or '(unknown version)'} has no "
            "ssl_reject_handshake: no HTTPS catch-all"
        )
    return render(), notes


def _explain(item: str) -> str:
    kind, _, name = item.strip().partition(" ")
    if kind == "missing":
        return f"command `{name}` not found (install package {REQUIRED.get(name, name)})"
    if kind == "engine":
        return "the docker engine does not answer (`docker info` fails: is dockerd running?)"
    if kind == "compose":
        return (
            f"Docker Compose v2 is missing (`docker compose version` gives {name}); "
            "install the docker-compose-plugin package"
        )
    return item


def _ensure_user(host: Host) -> bool:
    run = host.remote.run
    changed = False
    if not run(["id", "-u", DEPLOY_USER], check=False).ok:
        run(
            ["useradd", "--create-home", "--user-group", "--shell", "/bin/bash", DEPLOY_USER],
            sudo=True,
        )
        changed = True
    if "docker" not in run(["id", "-nG", DEPLOY_USER]).stdout.split():
        run(["usermod", "--append", "--groups", "docker", DEPLOY_USER], sudo=True)
        changed = True
    # A new user's password is locked ("!"); without PAM, sshd refuses key logins
    # to locked accounts. "*" means "no password" without locking the account.
    shadow = run(["getent", "shadow", DEPLOY_USER], sudo=True).stdout.split(":")
    if len(shadow) > 1 and shadow[1].startswith("!"):
        run(["usermod", "--password", "*", DEPLOY_USER], sudo=True)
        changed = True
    return changed


def _ensure_dirs(host: Host) -> bool:
    run = host.remote.run
    stat = run(["stat", "-c", "%n %a %U", "--", *(p for p, _ in DIRS)], sudo=True, check=False)
    seen = {}
    for row in stat.stdout.splitlines():
        path, mode, user = row.rsplit(" ", 2)
        seen[path] = (int(mode, 8), user)
    changed = False
    for path, mode in DIRS:
        if seen.get(path) != (mode, DEPLOY_USER):
            run(
                [
                    "install",
                    "-d",
                    "-m",
                    format(mode, "o"),
                    "-o",
                    DEPLOY_USER,
                    "-g",
                    DEPLOY_USER,
                    "--",
                    path,
                ],
                sudo=True,
            )
            changed = True
    return changed


def _ensure_sudoers(host: Host, content: str) -> bool:
    if read_file(host, SUDOERS_FILE, sudo=True) == content:
        return False
    # sudo ignores files in sudoers.d whose name has a dot, so the candidate is
    # inert until visudo has validated it and it is renamed into place.
    candidate = f"{SUDOERS_FILE}.leo-candidate"
    host.remote.put(content.encode(), candidate, mode=0o440, sudo=True, owner="root")
    check = host.remote.run(["visudo", "-c", "-f", candidate], sudo=True, check=False)
    if not check.ok:
        host.remote.run(["rm", "-f", "--", candidate], sudo=True)
        raise StepFailed(f"visudo rejected the sudoers rules: {check.stderr or check.stdout}")
    host.remote.run(["mv", "-f", "--", candidate, SUDOERS_FILE], sudo=True)
    return True
