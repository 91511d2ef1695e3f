"""The moves a rotate, `start` and `stop` are made of: wait until containers are ready,
point nginx at them, let old requests drain, retire containers, put things back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .. import templates
from ..commands import docker
from ..errors import LeoError, StepFailed
from ..facts import Container
from ..layout import AppPaths
from ..remote import Command, run_all
from . import nginx
from .base import Host
from .containers import containers, describe
from .health import HealthPolicy, wait_ready

# A container that ignores SIGTERM is SIGKILLed by `docker stop`: exit 128 + 9.
KILLED = 137
DOCKER_STOP_GRACE = 10  # docker's default when a container sets no stop_grace_period


def await_ready(
    host: Host,
    ids: list[str],
    policy: HealthPolicy,
    *,
    title: str = "wait until ready",
    known: list[Container] | None = None,
) -> list[Container]:
    with host.step(title) as line:
        ready = wait_ready(host, ids, policy, known=known)
        line.outcome = ", ".join(describe(c) for c in ready)
    return ready


@dataclass(frozen=True)
class Switch:
    """What `switch_upstream` did: whether nginx changed, and the workers that may
    still be serving requests to the previous upstream."""

    changed: bool
    old_workers: list[int]


def upstream_addresses(web: list[Container], networks: list[str] | tuple[str, ...]) -> list[str]:
    addresses = []
    for container in web:
        address = container.address(networks)
        if not address:
            attached = ", ".join(
                f"{n} ({ip or 'no address'})" for n, ip in container.networks.items()
            )
            raise StepFailed(
                f"nginx cannot reach {describe(container)}: it has no address on "
                f"{' or '.join(networks) or 'a single network'} "
                f"(attached: {attached or 'none'}). Put the web service on a bridge network "
                "(its default network is simplest)"
            )
        addresses.append(address)
    return addresses


def switch_upstream(
    host: Host,
    paths: AppPaths,
    web: list[Container],
    *,
    networks: list[str] | tuple[str, ...] = (),
    port: int,
    site: str | None = None,
) -> Switch:
    """Point nginx at `web` (and install a new site with it): one transaction, tested,
    reloaded and confirmed, or undone."""
    with host.step("switch nginx upstream") as line:
        addresses = upstream_addresses(web, networks)
        content = templates.upstream(paths, addresses, [c.name for c in web], port=port)
        changes = [nginx.FileChange(paths.upstream_conf, content)]
        if site is not None:
            changes.append(nginx.FileChange(paths.nginx_conf, site))
        reloaded = nginx.apply(
            host,
            changes,
            failing=f"nginx -t rejected the new configuration of {paths.app} on {host.name}",
        )
        line.outcome = (", ".join(addresses) or "no containers") + (
            "" if reloaded else " (unchanged)"
        )
    return Switch(reloaded is not None, reloaded.old_workers if reloaded else [])


def drain(host: Host, old_workers: list[int], max_seconds: float) -> None:
    """Wait until no request can still reach the old containers.

    `nginx -s reload` returns before nginx has switched: the old workers keep
    serving what they accepted, with the old upstream. The reload was
    confirmed (new workers run), so once the old ones have exited nothing is
    in flight to the old containers. Not a blind sleep: it ends as soon as
    they are gone, and at `max_seconds` for long-lived connections.
    """
    with host.step("drain old nginx workers") as line:
        still = nginx.wait_retired(host, old_workers, max_seconds)
        line.outcome = (
            f"{len(still)} old workers still busy after {max_seconds:g}s "
            "(long-lived connections such as websockets); going on"
            if still
            else f"done ({len(old_workers)} old workers exited)"
        )


def stop_timeout(containers: list[Container]) -> float:
    """How long `docker stop` of these may take: the longest stop_grace_period, and a margin."""
    return max((c.stop_timeout or DOCKER_STOP_GRACE) for c in containers) + 60


def retire(host: Host, old: list[Container], title: str) -> None:
    """Stop (honouring each stop_grace_period) and remove `old` by ID; say so when a
    container had to be killed because it ignores SIGTERM."""
    if not old:
        return
    with host.step(title) as line:
        ids = [c.id for c in old]
        started = time.monotonic()
        # One round trip; nothing is removed when the stop failed (it raises).
        _, exited, _ = run_all(
            host.remote,
            [
                Command(docker.stop(ids), timeout=stop_timeout(old)),
                Command(docker.exit_codes(ids), check=False),
                Command(docker.remove(ids)),
            ],
            stop_at_failure=True,
        )
        # With the inspect and the removal: at most a second more than the stop itself,
        # against a stop_grace_period of 10 s by default.
        elapsed = time.monotonic() - started
        codes = dict(row.split(" ", 1) for row in exited.stdout.splitlines() if " " in row)
        killed = [
            c
            for c in old
            if codes.get(c.id, "").strip() == str(KILLED)
            and elapsed >= (c.stop_timeout or DOCKER_STOP_GRACE) - 0.5
        ]
        line.details = [
            f"{c.name} ignored SIGTERM and was killed after its "
            f"{c.stop_timeout or DOCKER_STOP_GRACE}s stop_grace_period: every retire waits "
            "that long. Make its PID 1 handle SIGTERM (`exec` the server in the entrypoint, "
            "or `init: true` in the compose file)"
            for c in killed
        ]
        line.outcome = f"done in {elapsed:.1f}s"


def put_back(host: Host, app: str, before: list[Container]) -> tuple[str, list[str]]:
    """Undo what a failed run did to the app's containers: remove the ones it created,
    stop the ones it started. Returns what was done, and what could not be put back
    (a container that was running before and is gone: this run replaced it)."""
    known = {c.id: c for c in before}
    now = containers(host, app)
    present = {c.id for c in now}
    created = [c for c in now if c.id not in known]
    started = [c for c in now if c.id in known and c.running and not known[c.id].running]
    done = []
    if created:
        host.remote.run(docker.remove([c.id for c in created]))
        done.append("removed " + ", ".join(c.name for c in created))
    if started:
        host.remote.run(docker.stop([c.id for c in started]), timeout=stop_timeout(started))
        done.append("stopped " + ", ".join(c.name for c in started))
    lost = [c.name for c in before if c.running and c.id not in present]
    return "; ".join(done), lost


def restored_message(host: Host, app: str, before: list[Container], *, serving: bool) -> str:
    """Put the containers back and say, truthfully, in what state the app was left."""
    try:
        done, lost = put_back(host, app, before)
    except LeoError as exc:
        return (
            f"COULD NOT put the containers back as they were: {str(exc).splitlines()[0]}. "
            f"Check with `leo status --app {app}`"
        )
    if lost:
        return (
            f"COULD NOT put back {', '.join(lost)}: running before this run, replaced by it"
            + (f" ({done})" if done else "")
            + f". Check with `leo status --app {app}`"
        )
    return (
        "the app's containers are as they were before this run"
        + (f" ({done})" if done else "")
        + ("; the previous release keeps serving" if serving else "")
    )
