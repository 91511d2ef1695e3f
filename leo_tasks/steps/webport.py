"""The port nginx sends an app's requests to, inside its web containers.

LEO_WEB_PORT (`leo create --port`) when set. Otherwise the web image says it,
as Dokku reads it: its single EXPOSEd TCP port, else 5000 (the original
leo's fixed port). An image that EXPOSEs several TCP ports is refused before
anything changes: leo cannot guess which one serves HTTP.

An app last deployed by a leo that did not read EXPOSE keeps 5000: its image
may EXPOSE a port its app does not listen on (a base image's 80), and an
upgrade of leo must not move it. The release record says how the port was
found, so the next rotate knows.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

from ..appsettings import WEB_PORT_SETTING
from ..commands import docker
from ..errors import InvalidInput
from ..layout import WEB_PORT, WEB_SERVICE
from ..remote import Command, run_all
from . import releases
from .base import Host

if TYPE_CHECKING:
    from .rotate import App


# How the port was found, as release records keep it (Release.web["how"]).
SET, EXPOSED, DEFAULT, KEPT = "LEO_WEB_PORT", "EXPOSE", "default", "kept"


def exposed_tcp_ports(text: str) -> list[int]:
    """The TCP ports of `docker image inspect`'s `{{json .Config.ExposedPorts}}`."""
    try:
        raw = json.loads(text or "null")
    except json.JSONDecodeError:
        return []
    ports = []
    for key in raw or {}:
        number, _, proto = str(key).partition("/")
        if (proto or "tcp") == "tcp" and number.isdigit():
            ports.append(int(number))
    return sorted(set(ports))


def choose(exposed: list[int], *, image: str, web: str, app: str) -> tuple[int, str]:
    """The port and how it was found, from the image's EXPOSEd TCP ports."""
    if not exposed:
        return WEB_PORT, f"the default: {image} EXPOSEs no port"
    if len(exposed) == 1:
        return exposed[0], f"EXPOSE of {image}"
    raise InvalidInput(
        f"the image of service {web} ({image}) EXPOSEs several ports "
        f"({', '.join(map(str, exposed))}), and leo cannot tell which one serves HTTP: "
        f"set it with `leo env.set --app {app} {WEB_PORT_SETTING}=PORT`"
    )


def kept_from_before(history: list[releases.Release]) -> bool:
    """Whether the app's port is the one a leo before EXPOSE detection used: its newest
    release was recorded without web settings, or kept that port itself."""
    if not history:
        return False
    web = history[-1].web
    return not web or web.get("how") == KEPT


def _image(app: App) -> str:
    return str((app.model.services.get(app.web) or {}).get("image") or "")


def _exposed(image: str) -> Command:
    return Command(docker.exposed_ports(image), check=False)


def exposed_command(app: App) -> Command | None:
    """The command `resolve` may run (the web image's EXPOSE), to prefetch."""
    image = _image(app)
    return _exposed(image) if app.settings.web_port is None and image else None


def resolve(host: Host, app: App, history: list[releases.Release] | None = None) -> App:
    """`app` with its web port: LEO_WEB_PORT, else found in the web image (on the host by
    now: after the pull). `history`: the app's releases, when the caller has read them."""
    if app.settings.web_port is not None:
        return dataclasses.replace(app, port=app.settings.web_port, port_found=SET)
    image = _image(app)
    with host.step("find web port") as line:
        found = DEFAULT
        # The previous leo served only a service named web.
        if app.web == WEB_SERVICE and kept_from_before(
            history if history is not None else releases.load(host, app.project.paths)
        ):
            port, how, found = WEB_PORT, "kept: the port before leo read EXPOSE", KEPT
        elif not image:
            port, how = WEB_PORT, f"the default: service {app.web} names no image"
        else:
            [result] = run_all(host.remote, [_exposed(image)])
            if not result.ok:  # compose up reports a missing image better than we can
                port, how = WEB_PORT, f"the default: {image} is not on the host"
            else:
                exposed = exposed_tcp_ports(result.stdout.strip())
                port, how = choose(exposed, image=image, web=app.web, app=app.project.app)
                found = EXPOSED if exposed else DEFAULT
        line.outcome = f"{port} ({how}; {WEB_PORT_SETTING} sets it)"
    return dataclasses.replace(app, port=port, port_found=found)
