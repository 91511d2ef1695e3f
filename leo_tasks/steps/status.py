"""`leo status`: the app's containers, what nginx points at, and whether they agree."""

from __future__ import annotations

from ..appsettings import WEB_PORT_SETTING, AppSettings
from ..envfile import EnvFile
from ..errors import InvalidInput, StepFailed
from ..facts import parse_upstream
from ..layout import WEB_PORT, WEB_SERVICE, AppPaths
from . import lock, releases, webport
from .base import Host, read_files
from .containers import containers


def status(host: Host, paths: AppPaths) -> tuple[list[str], bool]:
    """Lines describing the app, and whether nginx points at exactly the running web
    containers. One-off containers (`leo run`) are listed apart and never counted."""
    files = read_files(host, [paths.upstream_conf, paths.env_file])
    upstream_text = files[paths.upstream_conf]
    if upstream_text is None:
        raise StepFailed(f"app {paths.app!r} does not exist on {host.name}")
    upstream = parse_upstream(upstream_text)
    try:
        settings = AppSettings.from_env(EnvFile.parse(files[paths.env_file] or "").values())
    except InvalidInput as exc:  # status still reports; the next rotate refuses it
        settings = AppSettings()
        problem = f" (the env file has a bad setting: {exc})"
    else:
        problem = ""
    history = releases.load(host, paths)
    found = containers(host, paths.app, oneoffs=True)
    services = [c for c in found if not c.oneoff]
    lines = ["containers:"]
    for c in services:
        health = f" {c.health}" if c.health else ""
        ips = ",".join(ip for ip in c.networks.values() if ip) or "-"
        lines.append(f"  {c.name:<28} {c.status}{health:<11} {ips:<15} {c.short_id}")
    if not services:
        lines.append("  (none)")
    oneoffs = [c for c in found if c.oneoff]
    if oneoffs:
        lines.append("one-off containers (leo run): " + ", ".join(c.name for c in oneoffs))
    web = [c for c in services if c.running and c.service == settings.web_service]
    # nginx agrees when each running web container is in the upstream, by one of
    # its addresses, and the upstream holds nothing else.
    matched = sorted(next((ip for ip in c.networks.values() if ip in upstream), "?") for c in web)
    lines.append(f"nginx upstream: {', '.join(upstream) or '(nothing deployed)'}")
    agree = "?" not in matched and matched == sorted(upstream)
    web_ips = ", ".join(",".join(ip for ip in c.networks.values() if ip) for c in web)
    lines.append(
        "agree: yes"
        if agree
        else f"agree: NO (running web containers: {web_ips or 'none'}); "
        "`leo rotate` or `leo start` re-syncs"
    )
    lines.insert(0, f"web: {_web(settings, history)}{problem}")
    lines += [f"lock: {line}" for line in lock.inspect(host, paths)]
    lines.append(
        f"release: {history[-1].number} ({history[-1].time})"
        if history
        else "release: none recorded"
    )
    return lines, agree


def _web(settings: AppSettings, history: list[releases.Release]) -> str:
    """The web service and its port, and where the port comes from."""
    text = f"service {settings.web_service}, port "
    if settings.web_port is not None:
        return text + f"{settings.web_port} ({WEB_PORT_SETTING})"
    if settings.web_service == WEB_SERVICE and webport.kept_from_before(history):
        return text + f"{WEB_PORT} (kept from before leo read EXPOSE; {WEB_PORT_SETTING} sets it)"
    last = history[-1] if history else None
    how = last.web.get("how") if last else None
    if last and how == webport.EXPOSED:
        return text + f"{last.web.get('port')} (found in the image at release {last.number})"
    if last and how == webport.DEFAULT:
        return text + f"{last.web.get('port')} (the default at release {last.number})"
    return text + "from the image's EXPOSE at the next deploy"
