"""`leo setup` against the real test host, and host-key checking on connect."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .hostkit import Leo, make_home, sh

FILES = [
    "/etc/sudoers.d/leo-deploy",
    "/etc/nginx/conf.d/leo.conf",
    "/usr/local/bin/chown_leo_deploy",
    "/home/leo-deploy/.ssh/authorized_keys",
]


def test_second_setup_changes_nothing(leo, deploy_host, leo_home):
    before = {path: os.stat(path).st_mtime_ns for path in FILES}
    result = leo(
        "setup", "--host", "root@testhost", "--pubkey", str(leo_home / ".ssh/id_ed25519.pub")
    )
    steps = re.findall(r"^\[root@testhost\] (.+?): (\w+)", result.stderr, re.M)
    assert len(steps) == 7, result.stderr
    assert all(outcome in ("unchanged", "ok") for _, outcome in steps), result.stderr
    assert {path: os.stat(path).st_mtime_ns for path in FILES} == before


def test_setup_result_seen_from_outside(deploy_host, leo_home):
    assert "docker" in sh("id", "-nG", "leo-deploy").stdout.split()
    assert sh("visudo", "-c", "-f", "/etc/sudoers.d/leo-deploy").returncode == 0
    rules = sh("sudo", "-l", "-U", "leo-deploy").stdout
    allowed = rules.split("NOPASSWD:")[1].split(",")
    assert [r.strip() for r in allowed] == [
        "/usr/sbin/nginx -t",
        "/usr/sbin/nginx -s reload",
        "/usr/local/bin/chown_leo_deploy",
    ]
    assert oct(os.stat("/etc/sudoers.d/leo-deploy").st_mode & 0o777) == "0o440"
    keys = Path("/home/leo-deploy/.ssh/authorized_keys").read_text()
    assert (leo_home / ".ssh/id_ed25519.pub").read_text().split()[1] in keys
    assert (
        "include /home/leo-deploy/apps/*/nginx.conf;"
        in Path("/etc/nginx/conf.d/leo.conf").read_text()
    )
    assert sh("nginx", "-t").returncode == 0
    # leo-deploy can do exactly what leo needs through sudo, without a password.
    assert sh("runuser", "-u", "leo-deploy", "--", "sudo", "-n", "nginx", "-t").returncode == 0
    assert sh("runuser", "-u", "leo-deploy", "--", "sudo", "-n", "id", ok=False).returncode != 0


def test_unknown_host_key_is_refused_until_accepted(deploy_host, tmp_path):
    home = make_home(tmp_path / "home", known_hosts=False)
    leo = Leo(home)
    refused = leo("env", "--app", "nosuch", "--host", "testhost", ok=False)
    assert refused.returncode == 3
    assert "not in ~/.ssh/known_hosts" in refused.stderr
    assert "ssh-keyscan -p 2222 127.0.0.1" in refused.stderr
    assert not (home / ".ssh/known_hosts").exists()

    pub = str(home / ".ssh/id_ed25519.pub")
    leo("setup", "--host", "root@testhost", "--pubkey", pub, "--accept-new-host-key")
    recorded = (home / ".ssh/known_hosts").read_text().split()
    real = Path("/etc/ssh/ssh_host_ed25519_key.pub").read_text().split()
    assert recorded[0] == "[127.0.0.1]:2222"
    assert recorded[1:3] == real[:2]
    # Now known: app tasks connect without the option.
    assert leo("env", "--app", "nosuch", "--host", "testhost", ok=False).returncode == 1


def test_changed_host_key_is_refused(deploy_host, tmp_path):
    home = make_home(tmp_path / "home", known_hosts=False)
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "impostor"))
    impostor = (tmp_path / "impostor.pub").read_text().split()
    (home / ".ssh/known_hosts").write_text(f"[127.0.0.1]:2222 {impostor[0]} {impostor[1]}\n")
    result = Leo(home)(
        "setup",
        "--host",
        "root@testhost",
        "--accept-new-host-key",
        "--pubkey",
        str(home / ".ssh/id_ed25519.pub"),
        ok=False,
    )
    assert result.returncode == 3
    assert "HOST KEY CHANGED" in result.stderr
    assert "ssh-keygen -R '[127.0.0.1]:2222'" in result.stderr


def test_setup_as_a_sudoer_rather_than_root(leo, deploy_host, leo_home):
    """Ubuntu-style: log in as an admin user and let leo use `sudo -n` for root's work."""
    admin = "leo-test-admin"
    sudoers = Path(f"/etc/sudoers.d/{admin}")
    sh("useradd", "--create-home", "--shell", "/bin/bash", admin)
    try:
        sh("usermod", "--password", "*", admin)  # key login only, account not locked
        sudoers.write_text(f"{admin} ALL=(ALL) NOPASSWD: ALL\n")
        sudoers.chmod(0o440)
        ssh_dir = Path(f"/home/{admin}/.ssh")
        ssh_dir.mkdir(mode=0o700)
        (ssh_dir / "authorized_keys").write_text((leo_home / ".ssh/id_ed25519.pub").read_text())
        sh("chown", "-R", f"{admin}:{admin}", str(ssh_dir))
        # Take away two root-owned files so that setup has to write them via sudo.
        for path in ("/usr/local/bin/chown_leo_deploy", "/etc/sudoers.d/leo-deploy"):
            Path(path).unlink()

        result = leo(
            "setup",
            "--host",
            f"{admin}@testhost",
            "--pubkey",
            str(leo_home / ".ssh/id_ed25519.pub"),
        )
        assert "helper /usr/local/bin/chown_leo_deploy: changed" in result.stderr
        assert "sudoers /etc/sudoers.d/leo-deploy: changed" in result.stderr
        for path, mode in (
            ("/usr/local/bin/chown_leo_deploy", 0o755),
            ("/etc/sudoers.d/leo-deploy", 0o440),
        ):
            info = os.stat(path)
            assert (info.st_uid, info.st_gid, info.st_mode & 0o777) == (0, 0, mode), path
        assert sh("visudo", "-c").returncode == 0
        assert list(Path(f"/home/{admin}").glob(".leo-upload-*")) == []  # temp uploads gone
    finally:
        sudoers.unlink(missing_ok=True)
        sh("userdel", "--remove", admin, ok=False)
        # Whatever happened above, later tests need the host set up as usual.
        leo("setup", "--host", "root@testhost", "--pubkey", str(leo_home / ".ssh/id_ed25519.pub"))
