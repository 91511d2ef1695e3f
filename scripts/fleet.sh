#!/usr/bin/env bash
# A fleet of real deploy hosts on this machine, for multi-host tests of leo_tasks.
#
# Each host is a container (leo-fleet-h1..hN, hostname h1..hN, IP 172.31.250.1x on
# the internal docker network leo-fleet) running its own containerd + docker
# engine, sshd on :22 and nginx, built from Debian 12 packages (recipe:
# /work/shared/design/FLEET.md). Hosts reach this machine and each other (by
# name hI too), nothing else; their engines start empty (no registry): load
# images with `docker save IMG | docker exec -i leo-fleet-h1 docker load`.
# In front of them, a second nginx on this machine (127.0.0.1:8080) balances
# over all hosts, for whole-fleet zero-downtime figures.
#
#   scripts/fleet.sh up [N]   N hosts (default 3, at most 9); idempotent, fast when up
#   scripts/fleet.sh status   what runs (exit 0 only when everything is up)
#   scripts/fleet.sh down     remove hosts, their volumes, the network, stop the LB;
#                             the host image and the keys in the state dir stay
#
# State dir ($LEO_FLEET_DIR, default /var/lib/leo-fleet):
#   id_ed25519[.pub]   client key, authorized for root on every host
#   hostkeys/hI/       each host's ssh host key, generated once, so a recreated
#                      host keeps its key and known_hosts stays valid
#   known_hosts        every host's key (by IP and by alias hI)
#   ssh_config         Host h1..hN (and 172.31.250.*): ssh -F <dir>/ssh_config root@h1
#   hosts              one IP per line
#   lb/                the load balancer's nginx prefix: nginx.conf, error.log
#   lb.pid             its master's pid
# Nothing touches the real ~/.ssh: tests point HOME at a temp dir and copy
# ssh_config/known_hosts there (leo reads ~/.ssh/config and ~/.ssh/known_hosts).
#
# Environment:
#   LEO_FLEET_DIR       state dir (default /var/lib/leo-fleet)
#   LEO_FLEET_LB_PORT   LB port on 127.0.0.1 (default 8080)
#   LEO_FLEET_MIRROR    Debian mirror for the host image (default http://deb.debian.org/debian)
#   LEO_FLEET_SECURITY  security mirror (default http://deb.debian.org/debian-security)
#
# Run as root. The outer docker engine must be up (scripts/provision-testhost.sh).
# Only things named leo-fleet* are ever created or removed; the outer dockerd,
# nginx and sshd are never stopped or reloaded.
set -euo pipefail

STATE_DIR="${LEO_FLEET_DIR:-/var/lib/leo-fleet}"
LB_PORT="${LEO_FLEET_LB_PORT:-8080}"
MIRROR="${LEO_FLEET_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${LEO_FLEET_SECURITY:-http://deb.debian.org/debian-security}"
NET=leo-fleet
NET_PREFIX=172.31.250
SUBNET="$NET_PREFIX.0/24"
MAX_HOSTS=9
IMAGE_REPO=leo-fleet-host
LABEL=org.leo-fleet
COMPOSE_PLUGIN=/usr/local/lib/docker/cli-plugins/docker-compose
SUITE=bookworm
# What leo needs on a host (leo_tasks/steps/setup.py REQUIRED) plus the daemons:
# flock comes with util-linux, timeout/sha256sum/install with coreutils,
# useradd with passwd, visudo with sudo.
PACKAGES=(docker.io nginx-light openssh-server sudo curl procps util-linux coreutils
          passwd iproute2 cron ca-certificates python3)
SOURCES=("deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main"
         "deb $SECURITY_MIRROR $SUITE-security main")
LB_DIR="$STATE_DIR/lb"
LB_CONF="$LB_DIR/nginx.conf"
LB_PID="$STATE_DIR/lb.pid"
KEY_COMMENT="leo-fleet:$STATE_DIR"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
T0=$EPOCHREALTIME

log() { printf '[fleet] %s\n' "$*"; }
die() { printf '[fleet] ERROR: %s\n' "$*" >&2; exit 1; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# pid_is / pidfile_pid: stale pid files are the normal case in CI.
# shellcheck source=scripts/pidfile.sh
source "$SCRIPT_DIR/pidfile.sh"

host_name() { printf 'leo-fleet-h%s' "$1"; }
host_ip() { printf '%s.%s' "$NET_PREFIX" "$((10 + $1))"; }
host_volume() { printf 'leo-fleet-h%s-docker' "$1"; }

# ---------------------------------------------------------------------------
# Host image: Debian 12 minbase + packages, from the Debian mirror (mmdebstrap),
# imported into the outer engine. The tag is a hash of everything that goes in,
# so a changed recipe gets a new image and an unchanged one is never rebuilt.
# ---------------------------------------------------------------------------

# Runs as an mmdebstrap customize hook on the finished root ($1), before it is
# packed. The compose v2 plugin is copied from this machine (Debian only has v1).
customize_rootfs() {
  set -eu
  local root="$1" plugin="$2"
  install -D -m 0755 "$plugin" "$root/usr/local/lib/docker/cli-plugins/docker-compose"
  # Host keys come from the state dir at start (stable across recreation);
  # the ones openssh-server's postinst made here would be shared by all hosts.
  rm -f "$root"/etc/ssh/ssh_host_*
  # leo installs its own catch-all default server; the stock one would clash.
  rm -f "$root/etc/nginx/sites-enabled/default"
  mkdir -p "$root/etc/ssh/sshd_config.d"
  # First value wins in sshd_config, and Debian's includes sshd_config.d first.
  # UsePAM yes: without PAM, OpenSSH refuses key logins for accounts with a
  # locked password ('!'), which is what `useradd` gives leo-deploy.
  cat >"$root/etc/ssh/sshd_config.d/leo-fleet.conf" <<'EOF'
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM yes
EOF
}

image_tag() {
  local plugin_sum
  plugin_sum="$(sha256sum "$COMPOSE_PLUGIN" | cut -d' ' -f1)"
  {
    printf 'recipe 1\n'
    printf '%s\n' "$SUITE" "${PACKAGES[@]}" "${SOURCES[@]}" "$plugin_sum"
    declare -f customize_rootfs build_image
  } | sha256sum | cut -c1-12
}

ensure_mmdebstrap() {
  [[ "$(dpkg-query -W -f='${Status}' mmdebstrap 2>/dev/null || true)" == "install ok installed" ]] \
    && return 0
  log "apt: installing mmdebstrap"
  local apt_log=/var/log/leo-fleet-apt.log
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap \
        >"$apt_log" 2>&1; then
    # A fresh machine may have no package lists yet.
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >>"$apt_log" 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap \
      >>"$apt_log" 2>&1 || { tail -n 20 "$apt_log" >&2; die "apt-get install mmdebstrap failed"; }
  fi
}

# Build $1 (repo:tag). mmdebstrap writes the tarball to a pipe straight into
# `docker import`, so no 500 MB tarball ever lands on disk. Imported under a
# temporary tag first: a half-written stream never gets the real name.
build_image() {
  local image="$1" tmp_tag="$IMAGE_REPO:building-$$" hook build_log rc=0 t
  t=$EPOCHREALTIME
  build_log="$STATE_DIR/image-build.log"
  hook="$(mktemp /tmp/leo-fleet-hook.XXXXXX)"
  # shellcheck disable=SC2016  # $1 is the hook's argument (the root dir)
  { declare -f customize_rootfs; printf 'customize_rootfs "$1" %q\n' "$COMPOSE_PLUGIN"; } >"$hook"
  log "image: building $image with mmdebstrap (about 30 s; log: $build_log)"
  # Check-Valid-Until off: the mirror here is a dated snapshot whose security
  # Release file has expired (the host's own apt config says the same).
  mmdebstrap --variant=minbase --include="$(IFS=,; echo "${PACKAGES[*]}")" \
      --aptopt='Acquire::Check-Valid-Until "false"' \
      --aptopt='Acquire::Languages "none"' \
      --customize-hook="bash $hook \"\$1\"" \
      "$SUITE" - "${SOURCES[@]}" 2>"$build_log" \
    | docker import -m "leo fleet host (scripts/fleet.sh)" \
        -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        -c 'CMD ["sleep", "infinity"]' \
        -c "LABEL $LABEL.image=1" - "$tmp_tag" >/dev/null || rc=$?
  rm -f "$hook"
  if ((rc)); then
    docker rmi "$tmp_tag" >/dev/null 2>&1 || true
    tail -n 20 "$build_log" >&2
    die "image build failed (exit $rc; log: $build_log)"
  fi
  docker tag "$tmp_tag" "$image"
  docker rmi "$tmp_tag" >/dev/null
  log "image: built $image in $(elapsed "$t")s ($(docker image inspect -f '{{.Size}}' "$image" \
        | awk '{ printf "%d MB", $1 / 1e6 }'))"
}

# Other tags of the host image (older recipes) that no container uses.
remove_old_images() {
  local keep="$1" img
  while read -r img; do
    [[ -n "$img" && "$img" != "$keep" && "$img" != "$IMAGE_REPO:<none>" ]] || continue
    if docker rmi "$img" >/dev/null 2>&1; then log "image: removed old $img"; fi
  done < <(docker images "$IMAGE_REPO" --format '{{.Repository}}:{{.Tag}}')
}

# ---------------------------------------------------------------------------
# Keys: one client key, and one host key per host, all kept in the state dir.
# ---------------------------------------------------------------------------
ensure_keys() {
  local n="$1" i d
  install -d -m 0755 "$STATE_DIR"
  install -d -m 0700 "$STATE_DIR/hostkeys"
  if [[ ! -s "$STATE_DIR/id_ed25519" || ! -s "$STATE_DIR/id_ed25519.pub" ]]; then
    rm -f "$STATE_DIR/id_ed25519" "$STATE_DIR/id_ed25519.pub"
    ssh-keygen -q -t ed25519 -N '' -C "$KEY_COMMENT" -f "$STATE_DIR/id_ed25519"
    log "keys: new client key $STATE_DIR/id_ed25519"
  fi
  chmod 0600 "$STATE_DIR/id_ed25519"
  for ((i = 1; i <= n; i++)); do
    d="$STATE_DIR/hostkeys/h$i"
    if [[ ! -s "$d/ssh_host_ed25519_key" || ! -s "$d/ssh_host_ed25519_key.pub" ]]; then
      install -d -m 0700 "$d"
      rm -f "$d/ssh_host_ed25519_key" "$d/ssh_host_ed25519_key.pub"
      ssh-keygen -q -t ed25519 -N '' -C "root@h$i" -f "$d/ssh_host_ed25519_key"
    fi
  done
}

# Writes $2 to file $1 atomically, only when the content differs; true if written.
write_if_changed() {
  local path="$1" content="$2"
  if [[ -f "$path" ]] && [[ "$(cat "$path")" == "$content" ]]; then return 1; fi
  printf '%s\n' "$content" >"$path.tmp"
  mv -f "$path.tmp" "$path"
}

write_client_files() {
  local n="$1" i ip kt kd kh="" hosts="" cfg
  for ((i = 1; i <= n; i++)); do
    ip="$(host_ip "$i")"
    read -r kt kd _ <"$STATE_DIR/hostkeys/h$i/ssh_host_ed25519_key.pub"
    kh+="$ip,h$i $kt $kd"$'\n'
    hosts+="$ip"$'\n'
  done
  cfg="# Written by scripts/fleet.sh: ssh -F $STATE_DIR/ssh_config root@h1"$'\n'
  for ((i = 1; i <= n; i++)); do
    cfg+="Host h$i"$'\n'"  HostName $(host_ip "$i")"$'\n'
  done
  cfg+="Host $(for ((i = 1; i <= n; i++)); do printf 'h%s ' "$i"; done)$NET_PREFIX.*
  IdentityFile $STATE_DIR/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $STATE_DIR/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes"
  write_if_changed "$STATE_DIR/known_hosts" "${kh%$'\n'}" || true
  write_if_changed "$STATE_DIR/hosts" "${hosts%$'\n'}" || true
  write_if_changed "$STATE_DIR/ssh_config" "$cfg" || true
  chmod 0644 "$STATE_DIR/known_hosts" "$STATE_DIR/hosts" "$STATE_DIR/ssh_config"
}

# ---------------------------------------------------------------------------
# Inside a host. This function is shipped to the host (with pid_is, pid_alive and
# pidfile_pid) and run there by `docker exec ... bash -c`. Idempotent: starts
# what does not run, removes stale pid files (a killed daemon, or a container
# restarted after the outer dockerd died; /run is a tmpfs, so a restart
# clears it anyway).
# Args: name, inner dockerd cgroup parent, host private key, host public key,
#       client public key, its comment.
# ---------------------------------------------------------------------------
host_ensure() {
  set -euo pipefail
  local name="$1" cgparent="$2" hostkey="$3" hostpub="$4" authkey="$5" comment="$6"
  local dpid cpid npid spid started=0 keys_changed=0 i d
  hlog() { printf '[fleet] %s: %s\n' "$name" "$*"; }
  hdie() { printf '[fleet] %s: ERROR: %s\n' "$name" "$*" >&2; exit 1; }

  # /sys is mounted read-only in a container; dockerd needs it writable.
  if awk '$2 == "/sys" && $4 ~ /(^|,)ro(,|$)/ { f = 1 } END { exit !f }' /proc/mounts; then
    mount -o remount,rw /sys || hdie "mount -o remount,rw /sys failed"
  fi

  # --- containerd, then dockerd ----------------------------------------------
  # As on a Debian host (containerd.service, then dockerd --containerd=...):
  # a separate containerd keeps the containers running when dockerd dies, and
  # a restarted dockerd picks them up again. A dockerd that started its own
  # containerd would take it and all containers down with it.
  cpid="$(pidfile_pid /run/containerd/leo-fleet.pid)"
  if ! { [[ -n "$cpid" ]] && pid_is "$cpid" containerd; }; then
    install -d -m 0711 /run/containerd
    if [[ -e /run/containerd/leo-fleet.pid ]]; then
      hlog "containerd: removing stale pid file (pid '$cpid' is not a live containerd)"
    fi
    hlog "containerd: starting (log /var/log/containerd.log)"
    setsid containerd >>/var/log/containerd.log 2>&1 </dev/null &
    cpid=$!
    echo "$cpid" >/run/containerd/leo-fleet.pid
  fi
  for ((i = 0; i < 100; i++)); do
    ctr version >/dev/null 2>&1 && break
    pid_alive "$cpid" || break # (not pid_is: it may not have exec'd containerd yet)
    sleep 0.1
  done
  if ! ctr version >/dev/null 2>&1; then
    tail -n 25 /var/log/containerd.log >&2 || true
    hdie "containerd did not answer within 10 s (log: /var/log/containerd.log in $name)"
  fi

  if ! docker info >/dev/null 2>&1; then
    dpid="$(pidfile_pid /run/docker.pid)"
    if ! { [[ -n "$dpid" ]] && pid_is "$dpid" dockerd; }; then
      if [[ -e /run/docker.pid ]]; then
        hlog "docker: removing stale /run/docker.pid (pid '$dpid' is not a live dockerd)"
        rm -f /run/docker.pid
      fi
      hlog "docker: starting dockerd (cgroup parent $cgparent; log /var/log/dockerd.log)"
      # A relative --cgroup-parent is taken relative to dockerd's own cgroup,
      # i.e. inner containers go below this host container's cgroup.
      setsid dockerd --containerd=/run/containerd/containerd.sock --cgroup-parent="$cgparent" \
        >>/var/log/dockerd.log 2>&1 </dev/null &
      dpid=$!
      started=1
    fi
    for ((i = 0; i < 120; i++)); do
      docker info >/dev/null 2>&1 && break
      # pid_alive, not pid_is: right after `&` the child may not have exec'd dockerd
      # yet, and a wait that gave up then failed a CI run (dockerd was up 1 s later).
      if ((started)) && ! pid_alive "$dpid"; then break; fi
      sleep 0.5
    done
    if ! docker info >/dev/null 2>&1; then
      tail -n 25 /var/log/dockerd.log >&2 || true
      hdie "dockerd did not answer 'docker info' within 60 s (log: /var/log/dockerd.log in $name)"
    fi
  fi

  # --- sshd ------------------------------------------------------------------
  umask 077
  if [[ "$(cat /etc/ssh/ssh_host_ed25519_key 2>/dev/null)" != "$hostkey" ]]; then
    printf '%s\n' "$hostkey" >/etc/ssh/ssh_host_ed25519_key
    keys_changed=1
  fi
  if [[ "$(cat /etc/ssh/ssh_host_ed25519_key.pub 2>/dev/null)" != "$hostpub" ]]; then
    printf '%s\n' "$hostpub" >/etc/ssh/ssh_host_ed25519_key.pub
    chmod 0644 /etc/ssh/ssh_host_ed25519_key.pub
    keys_changed=1
  fi
  install -d -m 0700 /root/.ssh
  touch /root/.ssh/authorized_keys
  # Keep other keys (a test may add its own); drop older keys of this state dir.
  if ! grep -qxF -- "$authkey" /root/.ssh/authorized_keys \
     || [[ "$(grep -cF -- " $comment" /root/.ssh/authorized_keys)" != 1 ]]; then
    { awk -v sfx=" $comment" \
        '!(length($0) >= length(sfx) && substr($0, length($0) - length(sfx) + 1) == sfx)' \
        /root/.ssh/authorized_keys
      printf '%s\n' "$authkey"; } >/root/.ssh/authorized_keys.tmp
    mv -f /root/.ssh/authorized_keys.tmp /root/.ssh/authorized_keys
  fi
  umask 022
  install -d -m 0755 /run/sshd
  spid="$(pidfile_pid /run/sshd.pid)"
  if [[ -n "$spid" ]] && pid_is "$spid" sshd; then
    if ((keys_changed)); then
      hlog "sshd: host key changed, reloading"
      kill -HUP "$spid"
    fi
  else
    rm -f /run/sshd.pid
    /usr/sbin/sshd -t || hdie "sshd -t failed"
    hlog "sshd: starting on :22"
    /usr/sbin/sshd -E /var/log/sshd.log
  fi
  for ((i = 0; i < 50; i++)); do
    ss -Hltn 'sport = :22' | grep -q . && break
    sleep 0.1
  done
  ss -Hltn 'sport = :22' | grep -q . \
    || { tail -n 10 /var/log/sshd.log >&2 || true; hdie "sshd is not listening on :22"; }

  # --- nginx -----------------------------------------------------------------
  if [[ -e /etc/nginx/sites-enabled/default || -L /etc/nginx/sites-enabled/default ]]; then
    rm -f /etc/nginx/sites-enabled/default
  fi
  npid="$(pidfile_pid /run/nginx.pid)"
  if ! { [[ -n "$npid" ]] && pid_is "$npid" nginx; }; then
    npid=""
    for d in /proc/[0-9]*; do
      [[ "$(tr '\0' ' ' 2>/dev/null <"$d/cmdline")" == "nginx: master process"* ]] || continue
      pid_is "${d#/proc/}" nginx || continue
      npid="${d#/proc/}"
      hlog "nginx: master $npid ran without /run/nginx.pid; restoring it"
      echo "$npid" >/run/nginx.pid
    done
  fi
  if [[ -z "$npid" ]]; then
    # Workers of a master killed with -9 still hold the listening sockets.
    for d in /proc/[0-9]*; do
      if [[ "$(tr '\0' ' ' 2>/dev/null <"$d/cmdline")" == "nginx: worker process"* ]]; then
        kill -9 "${d#/proc/}" 2>/dev/null || true
      fi
    done
    rm -f /run/nginx.pid
    nginx -t -q || hdie "nginx -t failed"
    hlog "nginx: starting"
    nginx
  fi

  # leo's site templates listen on [::]:80, and a real host answers on ::1.
  python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null \
    || hdie "cannot bind an IPv6 socket to [::1] (is IPv6 off on lo?)"
}

# ---------------------------------------------------------------------------
# One host container: created if missing or built from another spec (image,
# run arguments), started if stopped, then everything inside ensured.
# Runs in the background, one per host, so hosts come up in parallel.
# ---------------------------------------------------------------------------
ensure_host() {
  local i="$1" image="$2" name ip vol spec cur state args
  name="$(host_name "$i")"
  ip="$(host_ip "$i")"
  vol="$(host_volume "$i")"
  args=(--name "$name" --hostname "h$i" --network "$NET" --ip "$ip" --network-alias "h$i"
        --init
        --cap-add ALL --cap-drop SYS_RESOURCE
        --security-opt seccomp=unconfined --security-opt apparmor=unconfined
        --security-opt systempaths=unconfined --device-cgroup-rule 'a *:* rwm'
        -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run
        -v "$vol:/var/lib/docker"
        # Docker turns IPv6 off in a container on a network without IPv6.
        # nginx binds [::]:80 even so, but a real host has ::1: give lo IPv6
        # back. eth0 keeps it off, so no IPv6 packet goes on the wire.
        --sysctl net.ipv6.conf.lo.disable_ipv6=0
        # On an internal network docker's DNS never answers for outside names:
        # fail such a lookup (an image pull) in about 2 s, not 20.
        --dns-option timeout:1 --dns-option attempts:1)
  # The spec covers what is inside too: daemons' flags are fixed at their start.
  spec="$( { printf '%s\n' "$image" "${args[@]}"; declare -f host_ensure; } | sha256sum | cut -c1-12)"
  cur="$(docker inspect -f "{{.State.Status}} {{index .Config.Labels \"$LABEL.spec\"}}" \
           "$name" 2>/dev/null || true)"
  state="${cur%% *}"
  # A recreated host starts fresh, its engine's volume too: the container
  # layer (users, nginx sites, app dirs) is gone, so containers kept in the
  # volume would be apps that the host no longer knows about.
  if [[ -n "$cur" && "${cur#* }" != "$spec" ]]; then
    log "h$i: container $name was made from another image/spec: recreating it fresh"
    docker rm -f "$name" >/dev/null
    docker volume rm "$vol" >/dev/null 2>&1 || true
    cur="" state=""
  fi
  if [[ "$state" == running ]]; then
    :
  elif [[ -n "$state" ]]; then
    log "h$i: container $name is $state: starting it"
    if ! docker start "$name" >/dev/null 2>&1; then
      log "h$i: docker start failed: recreating $name fresh"
      docker rm -f "$name" >/dev/null
      docker volume rm "$vol" >/dev/null 2>&1 || true
      state=""
    fi
  fi
  if [[ -z "$state" ]]; then
    log "h$i: creating container $name ($ip)"
    docker run -d "${args[@]}" --label "$LABEL.host=$i" --label "$LABEL.spec=$spec" \
      "$image" >/dev/null
  fi
  docker exec "$name" bash -c \
    "$(declare -f pid_is pid_alive pidfile_pid host_ensure); host_ensure \"\$@\"" host_ensure \
    "h$i" "leo-fleet-h$i" \
    "$(cat "$STATE_DIR/hostkeys/h$i/ssh_host_ed25519_key")" \
    "$(cat "$STATE_DIR/hostkeys/h$i/ssh_host_ed25519_key.pub")" \
    "$(cat "$STATE_DIR/id_ed25519.pub")" "$KEY_COMMENT"
}

# --internal: the hosts reach this machine (and it them) and each other, but
# nothing beyond: no route out, and docker's DNS answers only for the
# network's own names (hI, leo-fleet-hI). A test cannot reach the internet
# by mistake (an image pull fails at once instead).
ensure_network() {
  local cur c
  cur="$(docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}} {{.Internal}}' \
           "$NET" 2>/dev/null || true)"
  [[ "$cur" == "$SUBNET true" ]] && return 0
  if [[ -n "$cur" ]]; then
    log "network: $NET is '$cur', not '$SUBNET true': recreating it and its hosts"
    while read -r c; do
      [[ "$c" =~ ^leo-fleet-h[0-9]+$ ]] || continue
      docker rm -f "$c" >/dev/null
      docker volume rm "$c-docker" >/dev/null 2>&1 || true
    done < <(docker ps -a --filter "name=^leo-fleet-h" --format '{{.Names}}')
    docker network rm "$NET" >/dev/null
  fi
  log "network: creating $NET ($SUBNET, internal)"
  docker network create --internal --subnet "$SUBNET" --label "$LABEL=1" "$NET" >/dev/null
}

# Containers h(N+1)..h9 left from a bigger fleet, and their volumes.
remove_hosts_above() {
  local n="$1" c i
  while read -r c; do
    [[ "$c" =~ ^leo-fleet-h([0-9]+)$ ]] || continue
    i="${BASH_REMATCH[1]}"
    ((i > n)) || continue
    log "h$i: removing $c (fleet is now $n hosts)"
    docker rm -f "$c" >/dev/null
    docker volume rm "$(host_volume "$i")" >/dev/null 2>&1 || true
  done < <(docker ps -a --filter "name=^leo-fleet-h" --format '{{.Names}}')
}

# ---------------------------------------------------------------------------
# Load balancer: a second nginx on this machine with its own prefix, config
# and pid file. The outer nginx (:80/:443, /run/nginx.pid) is never touched.
# ---------------------------------------------------------------------------
lb_conf() {
  local n="$1" i
  cat <<EOF
# Written by scripts/fleet.sh: load balancer over the fleet's hosts.
# Started as: nginx -p $LB_DIR/ -c $LB_CONF -g 'pid $LB_PID;'
worker_processes auto;
error_log $LB_DIR/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $LB_DIR/tmp/client_body;
    proxy_temp_path $LB_DIR/tmp/proxy;
    fastcgi_temp_path $LB_DIR/tmp/fastcgi;
    uwsgi_temp_path $LB_DIR/tmp/uwsgi;
    scgi_temp_path $LB_DIR/tmp/scgi;
    upstream fleet {
$(for ((i = 1; i <= n; i++)); do printf '        server %s:80;\n' "$(host_ip "$i")"; done)
    }
    server {
        listen 127.0.0.1:$LB_PORT;
        location / {
            proxy_pass http://fleet;
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_next_upstream error timeout http_502 http_503 http_504;
            proxy_next_upstream_tries $n;
            proxy_connect_timeout 2s;
        }
    }
}
EOF
}

# The LB master's pid if it runs (our config in its command line), else empty.
lb_pid() {
  local pid
  pid="$(pidfile_pid "$LB_PID")"
  if [[ -n "$pid" ]] && pid_is "$pid" nginx \
     && [[ "$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")" == *"$LB_CONF"* ]]; then
    echo "$pid"
  fi
  return 0
}

lb_nginx() { nginx -p "$LB_DIR/" -e "$LB_DIR/error.log" -c "$LB_CONF" -g "pid $LB_PID;" "$@"; }

ensure_lb() {
  local n="$1" pid changed=0 out i
  install -d -m 0755 "$LB_DIR" "$LB_DIR/tmp"
  if write_if_changed "$LB_CONF" "$(lb_conf "$n")"; then changed=1; fi
  pid="$(lb_pid)"
  if [[ -n "$pid" ]]; then
    if ((changed)); then
      out="$(lb_nginx -t -q 2>&1)" || { printf '%s\n' "$out" >&2; die "LB nginx -t failed"; }
      log "lb: config changed, reloading (pid $pid)"
      kill -HUP "$pid"
    fi
  else
    if [[ -e "$LB_PID" ]]; then
      log "lb: removing stale $LB_PID"
      rm -f "$LB_PID"
    fi
    # Workers of a master killed with -9 still hold the port: any nginx
    # listening on our LB address is one of ours.
    for pid in $(ss -Hltnp "sport = :$LB_PORT" | grep "127.0.0.1:$LB_PORT " \
                   | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
      if pid_is "$pid" nginx; then
        log "lb: killing orphaned nginx $pid still on 127.0.0.1:$LB_PORT"
        kill -9 "$pid" 2>/dev/null || true
        sleep 0.2
      fi
    done
    out="$(lb_nginx -t -q 2>&1)" || { printf '%s\n' "$out" >&2; die "LB nginx -t failed"; }
    log "lb: starting nginx on 127.0.0.1:$LB_PORT"
    # 9>&-: the daemon must not inherit (and hold forever) the state lock.
    lb_nginx 9>&- || { tail -n 10 "$LB_DIR/error.log" >&2 || true; die "LB nginx failed to start"; }
  fi
  for ((i = 0; i < 50; i++)); do
    pid="$(lb_pid)"
    [[ -n "$pid" ]] && ss -Hltnp "sport = :$LB_PORT" | grep -q "127.0.0.1:$LB_PORT .*pid=$pid," \
      && return 0
    sleep 0.1
  done
  tail -n 10 "$LB_DIR/error.log" >&2 || true
  die "LB nginx is not listening on 127.0.0.1:$LB_PORT"
}

stop_lb() {
  local pid i
  pid="$(lb_pid)"
  if [[ -n "$pid" ]]; then
    log "lb: stopping nginx (pid $pid)"
    kill -QUIT "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do pid_is "$pid" nginx || break; sleep 0.1; done
    if pid_is "$pid" nginx; then kill -TERM "$pid" 2>/dev/null || true; sleep 0.5; fi
  fi
  rm -f "$LB_PID"
}

# ---------------------------------------------------------------------------
# Subcommands
# ---------------------------------------------------------------------------
lock_state() {
  install -d -m 0755 "$STATE_DIR"
  exec 9>"$STATE_DIR/.lock"
  flock -w 600 9 || die "another fleet.sh holds $STATE_DIR/.lock"
}

cmd_up() {
  local n="${1:-3}" tag image i pids=() failed=0 t
  [[ "$n" =~ ^[1-9]$ ]] || die "up: N must be 1..$MAX_HOSTS, got '$n'"
  docker info >/dev/null 2>&1 \
    || die "the outer docker engine does not answer: run scripts/provision-testhost.sh"
  [[ -x "$COMPOSE_PLUGIN" ]] || die "$COMPOSE_PLUGIN missing: run scripts/provision-testhost.sh"
  lock_state
  ensure_mmdebstrap
  ensure_keys "$n"

  tag="$(image_tag)"
  image="$IMAGE_REPO:$tag"
  docker image inspect "$image" >/dev/null 2>&1 || build_image "$image"

  ensure_network
  remove_hosts_above "$n"
  t=$EPOCHREALTIME
  for ((i = 1; i <= n; i++)); do
    ensure_host "$i" "$image" &
    pids+=($!)
  done
  for ((i = 1; i <= n; i++)); do
    wait "${pids[i - 1]}" || { log "h$i: FAILED"; failed=1; }
  done
  ((failed == 0)) || die "some hosts did not come up (see above)"

  write_client_files "$n"
  # Prove the credentials as a test will use them: strict host key checking.
  pids=()
  for ((i = 1; i <= n; i++)); do
    ssh -F "$STATE_DIR/ssh_config" -o BatchMode=yes -o ConnectTimeout=10 "root@h$i" true &
    pids+=($!)
  done
  for ((i = 1; i <= n; i++)); do
    wait "${pids[i - 1]}" || { log "h$i: ssh root@h$i failed"; failed=1; }
  done
  ((failed == 0)) || die "ssh to some hosts failed"
  log "hosts: $n up and reachable over ssh in $(elapsed "$t")s"

  ensure_lb "$n"
  remove_old_images "$image"

  log "ready in $(elapsed "$T0")s: image $image"
  for ((i = 1; i <= n; i++)); do
    log "  h$i  $(host_ip "$i")  container $(host_name "$i")"
  done
  log "  load balancer  http://127.0.0.1:$LB_PORT/  (pid $(lb_pid))"
  log "  ssh -F $STATE_DIR/ssh_config root@h1   (hosts: $STATE_DIR/hosts)"
}

cmd_down() {
  local c v
  lock_state
  stop_lb
  while read -r c; do
    [[ "$c" =~ ^leo-fleet-h[0-9]+$ ]] || continue
    log "removing container $c"
    docker rm -f "$c" >/dev/null
  done < <(docker ps -a --filter "name=^leo-fleet-h" --format '{{.Names}}')
  while read -r v; do
    [[ "$v" =~ ^leo-fleet-h[0-9]+-docker$ ]] || continue
    log "removing volume $v"
    docker volume rm "$v" >/dev/null
  done < <(docker volume ls -q --filter "name=^leo-fleet-h")
  if docker network inspect "$NET" >/dev/null 2>&1; then
    log "removing network $NET"
    docker network rm "$NET" >/dev/null
  fi
  rm -rf "$LB_DIR"
  rm -f "$STATE_DIR/hosts" "$STATE_DIR/ssh_config" "$STATE_DIR/known_hosts"
  log "down in $(elapsed "$T0")s (kept: image $IMAGE_REPO, keys in $STATE_DIR)"
}

cmd_status() {
  local c ok=0 n=0 inner pid img
  img="$(docker images "$IMAGE_REPO" --format '{{.Repository}}:{{.Tag}} ({{.Size}})' | head -n1)"
  log "image: ${img:-none}"
  if docker network inspect "$NET" >/dev/null 2>&1; then log "network: $NET ($SUBNET, internal)"
  else log "network: none"; ok=1; fi
  while read -r c; do
    [[ "$c" =~ ^leo-fleet-h[0-9]+$ ]] || continue
    n=$((n + 1))
    if [[ "$(docker inspect -f '{{.State.Status}}' "$c")" != running ]]; then
      log "$c: $(docker inspect -f '{{.State.Status}}' "$c")"; ok=1; continue
    fi
    # shellcheck disable=SC2016
    inner="$(docker exec "$c" bash -c '
      up() { if "$@" >/dev/null 2>&1; then printf "%s " "$n"; else printf "%s:DOWN " "$n"; fi; }
      n=containerd up ctr version
      n=dockerd up docker info
      n=sshd up pgrep -x sshd
      n=nginx up pgrep -f "^nginx: master"
      printf "containers:%s" "$(docker ps -q 2>/dev/null | wc -l)"' 2>&1 || true)"
    [[ "$inner" == *DOWN* || "$inner" != *containers* ]] && ok=1
    log "$c: $(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$c")  $inner"
  done < <(docker ps -a --filter "name=^leo-fleet-h" --format '{{.Names}}' | sort -V)
  ((n)) || { log "hosts: none"; ok=1; }
  pid="$(lb_pid)"
  if [[ -n "$pid" ]]; then log "lb: nginx pid $pid on 127.0.0.1:$LB_PORT"
  else log "lb: not running"; ok=1; fi
  return "$ok"
}

[[ $EUID -eq 0 ]] || die "must run as root"
case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) printf 'usage: %s up [N] | down | status\n' "$0" >&2; exit 2 ;;
esac
