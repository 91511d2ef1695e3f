"""Where leo keeps things on a server. Plain paths a person can find by hand."""

from __future__ import annotations

from dataclasses import dataclass

DEPLOY_USER = "leo-deploy"
HOME = f"/home/{DEPLOY_USER}"
APPS_DIR = f"{HOME}/apps"
NGINX_INCLUDE = "/etc/nginx/conf.d/leo.conf"
SUDOERS_FILE = "/etc/sudoers.d/leo-deploy"
CHOWN_HELPER = "/usr/local/bin/chown_leo_deploy"
# The audit logs (see history.py). Outside the apps' directories: `destroy` is
# itself recorded and its record must outlive the app. `implode` removes HOME,
# and with it HISTORY_DIR; HOST_LOG (setup, implode; written as root) stays.
HISTORY_DIR = f"{HOME}/history"
HOST_LOG = "/var/log/leo/host.jsonl"
# Host-wide changes leo-deploy makes (`leo push`): "_" cannot start an app name.
DEPLOY_HOST_LOG = f"{HISTORY_DIR}/_host.jsonl"
# The defaults of an app's LEO_WEB_SERVICE and LEO_WEB_PORT (see appsettings.py):
# the original leo's fixed choices. The port is only the fallback when the web
# image EXPOSEs no port.
WEB_SERVICE = "web"
WEB_PORT = 5000
OVERRIDE_NAME = "docker-compose.leo.yml"


@dataclass(frozen=True)
class AppPaths:
    """The files of one app on the host, under /home/leo-deploy/apps/<app>/."""

    app: str

    @property
    def dir(self) -> str:
        return f"{APPS_DIR}/{self.app}"

    @property
    def compose_file(self) -> str:
        return f"{self.dir}/docker-compose.yml"

    @property
    def override_file(self) -> str:
        """leo's compose override, used with compose_file by every compose command leo
        runs: what a rotate needs different for the web service (no published ports,
        no container_name) and the images leo built or pinned. Rewritten by every
        rotate; the user's compose_file is never changed."""
        return f"{self.dir}/{OVERRIDE_NAME}"

    @property
    def previous_override_file(self) -> str:
        return f"{self.state_dir}/docker-compose.leo.previous.yml"

    @property
    def candidate_override_file(self) -> str:
        """A rotate's new override while it is being deployed (see candidate_compose_file)."""
        return f"{self.state_dir}/candidate.override.yml"

    @property
    def previous_compose_file(self) -> str:
        """The compose file before the last upload (deploy, rollback)."""
        return f"{self.state_dir}/docker-compose.previous.yml"

    @property
    def candidate_compose_file(self) -> str:
        """A deploy's new compose file while it is being deployed: it replaces
        compose_file only once the deploy succeeded, so a failed deploy never
        leaves its file behind for the next `leo rotate`."""
        return f"{self.state_dir}/candidate.compose.yml"

    @property
    def nginx_conf(self) -> str:
        """The app's nginx site: created by leo, then the user's to edit."""
        return f"{self.dir}/nginx.conf"

    @property
    def upstream_conf(self) -> str:
        """Rewritten by leo on every rotate/start; included by nginx.conf."""
        return f"{self.dir}/upstream.conf"

    @property
    def env_file(self) -> str:
        return f"{self.dir}/env"

    @property
    def letsencrypt_dir(self) -> str:
        return f"{self.dir}/letsencrypt"

    @property
    def tls_conf(self) -> str:
        """HTTPS settings, written by `leo letsencrypt`; included by nginx.conf."""
        return f"{self.dir}/tls.conf"

    @property
    def webroot(self) -> str:
        """Served by nginx at /.well-known/acme-challenge/ for HTTP-01."""
        return f"{self.letsencrypt_dir}/webroot"

    def live_certificate(self, domain: str) -> str:
        """A symlink to the current certificate's directory (privkey.pem, fullchain.pem)."""
        return f"{self.letsencrypt_dir}/live/{domain}"

    @property
    def state_dir(self) -> str:
        """leo's own bookkeeping (locks, releases); never read by compose or nginx."""
        return f"{self.dir}/.leo"

    @property
    def history_file(self) -> str:
        """The app's audit log: kept when the app is destroyed (see HISTORY_DIR)."""
        return f"{HISTORY_DIR}/{self.app}.jsonl"

    @property
    def upstream_name(self) -> str:
        return f"leo_{self.app}"
