"""`leo implode`: remove leo and every app it manages from a server.

Order matters: containers first (they live in the home directory), then nginx
(tested and reloaded, so it keeps serving everything else), then the user,
its home, crontab, sudoers rules and helper.
"""

from __future__ import annotations

from ..errors import StepFailed
from ..layout import CHOWN_HELPER, DEPLOY_USER, HOME, NGINX_INCLUDE, SUDOERS_FILE, AppPaths
from . import nginx
from .app import list_apps
from .base import Host
from .destroy import release_tags, remove_docker_objects


def implode(host: Host, *, volumes: bool) -> None:
    run = host.remote.run
    for app in list_apps(host, sudo=True):
        with host.step(f"remove app {app}") as line:
            tags = release_tags(host, AppPaths(app), sudo=True)
            line.outcome = remove_docker_objects(host, app, volumes=volumes, sudo=True, tags=tags)

    with host.step(f"nginx: remove {NGINX_INCLUDE}") as line:
        # Without leo's home there is no nginx lock file, and no leo run to race.
        home = run(["test", "-d", HOME], check=False).ok
        with nginx.transaction(
            host,
            failing=f"nginx -t fails on {host.name} without {NGINX_INCLUDE}",
            privileged=True,
            locked=home,
        ) as txn:
            removed = txn.write(nginx.FileChange(NGINX_INCLUDE, None, sudo=True))
        line.outcome = "removed, nginx reloaded" if removed else "absent"

    with host.step(f"user {DEPLOY_USER}") as line:
        if run(["id", "-u", DEPLOY_USER], check=False).ok:
            run(["crontab", "-r", "-u", DEPLOY_USER], sudo=True, check=False)
            run(["pkill", "-KILL", "-u", DEPLOY_USER], sudo=True, check=False)
            gone = run(["userdel", "--remove", DEPLOY_USER], sudo=True, check=False)
            if run(["id", "-u", DEPLOY_USER], check=False).ok:
                raise StepFailed(f"could not remove user {DEPLOY_USER}: {gone.stderr.strip()}")
            line.outcome = "removed"
        else:
            line.outcome = "absent"
        run(["rm", "-rf", "--", HOME, SUDOERS_FILE, CHOWN_HELPER], sudo=True)
