"""Exact argv of the pure command builders (Kamal style: the whole list, no SSH)."""

from __future__ import annotations

import os
import subprocess

import pytest

from leo_tasks.commands import compose, docker, fs, localcompose, nginx
from leo_tasks.layout import AppPaths

SHOP = compose.Project.live(AppPaths("shop"))
BASE = [
    "docker",
    "compose",
    "--ansi",
    "never",
    "--project-name",
    "shop",
    "--project-directory",
    "/home/leo-deploy/apps/shop",
    "--file",
    "/home/leo-deploy/apps/shop/docker-compose.yml",
    "--file",
    "/home/leo-deploy/apps/shop/docker-compose.leo.yml",
]


# ---- compose -----------------------------------------------------------------


def test_compose_base_pins_project_directory_and_file():
    assert compose.base(SHOP) == BASE


def test_compose_config_json():
    assert compose.config_json(SHOP) == [*BASE, "config", "--format", "json"]


@pytest.mark.parametrize(
    ("kwargs", "tail"),
    [
        ({}, ["up", "--detach", "--quiet-pull"]),
        (
            {"services": ["web"]},
            ["up", "--detach", "--quiet-pull", "--", "web"],
        ),
        (
            {"services": iter(["web", "worker"]), "no_deps": True},
            ["up", "--detach", "--quiet-pull", "--no-deps", "--", "web", "worker"],
        ),
        (
            {
                "services": ("web",),
                "no_deps": True,
                "no_recreate": True,
                "scale": {"worker": 3, "web": 2},
            },
            [
                "up",
                "--detach",
                "--quiet-pull",
                "--no-deps",
                "--no-recreate",
                # scale flags are sorted by service, whatever the mapping's order
                "--scale",
                "web=2",
                "--scale",
                "worker=3",
                "--",
                "web",
            ],
        ),
        (
            {"force_recreate": True, "scale": {"web": 1}},
            ["up", "--detach", "--quiet-pull", "--force-recreate", "--scale", "web=1"],
        ),
        ({"services": [], "scale": {}}, ["up", "--detach", "--quiet-pull"]),
    ],
)
def test_compose_up(kwargs, tail):
    assert compose.up(SHOP, **kwargs) == [*BASE, *tail]


def test_compose_up_puts_a_dash_named_service_after_the_separator():
    argv = compose.up(SHOP, ["-web"])
    assert argv[-2:] == ["--", "-web"]


def test_compose_start_stop():
    assert compose.start(SHOP) == [*BASE, "start"]
    assert compose.stop(SHOP) == [*BASE, "stop"]


@pytest.mark.parametrize(
    ("tty", "flags"),
    [
        (False, ["--rm", "-T"]),
        (True, ["--rm"]),
    ],
)
def test_compose_run_uses_sh_c_and_no_tty_flag_only_without_tty(tty, flags):
    command = 'echo "$HOME" && ls -la | wc -l; exit 3 # not a comment to us'
    assert compose.run(SHOP, "worker", command, tty=tty) == [
        *BASE,
        "run",
        *flags,
        "--",
        "worker",
        "sh",
        "-c",
        command,
    ]


def test_compose_builders_follow_the_app_paths():
    other = compose.Project.live(AppPaths("my_app-2"))
    assert compose.base(other)[5:] == [
        "my_app-2",
        "--project-directory",
        "/home/leo-deploy/apps/my_app-2",
        "--file",
        "/home/leo-deploy/apps/my_app-2/docker-compose.yml",
        "--file",
        "/home/leo-deploy/apps/my_app-2/docker-compose.leo.yml",
    ]


# ---- local compose (leo deploy --build, on this machine) -----------------------


def test_config_argv_runs_in_the_compose_files_directory():
    assert localcompose.config_json("/src/shop/docker-compose.yml") == [
        "docker",
        "compose",
        "--ansi",
        "never",
        "--project-directory",
        "/src/shop",
        "--file",
        "/src/shop/docker-compose.yml",
        "config",
        "--no-interpolate",
        "--format",
        "json",
    ]


def test_image_names_argv_reads_the_model_from_stdin_in_the_projects_directory():
    assert localcompose.image_names_from_stdin("/src/shop/c.yml", "shop")[4:] == [
        "--project-name",
        "shop",
        "--project-directory",
        "/src/shop",
        "--file",
        "-",
        "config",
        "--images",
    ]


def test_build_argv_builds_one_service_with_plain_progress():
    assert localcompose.build("/src/shop/compose.yaml", "Worker") == [
        "docker",
        "compose",
        "--ansi",
        "never",
        "--progress",
        "plain",
        "--project-directory",
        "/src/shop",
        "--file",
        "/src/shop/compose.yaml",
        "build",
        "--",
        "Worker",
    ]


@pytest.mark.parametrize(
    ("compose_file", "directory"),
    [
        ("docker-compose.yml", "."),
        ("deploy/compose.yml", "deploy"),
        ("/abs/dir with space/c.yml", "/abs/dir with space"),
        ("../up/c.yml", "../up"),
    ],
)
def test_project_directory_is_the_files_directory(compose_file, directory):
    assert localcompose.project_directory(compose_file) == directory


def test_a_service_named_like_a_flag_stays_a_name():
    # Compose refuses such a name anyway; `--` keeps the argv honest regardless.
    assert localcompose.build("c.yml", "--pull")[-2:] == ["--", "--pull"]


def test_an_app_without_leos_override_yet_runs_its_compose_file_alone():
    # Made by a leo before the override existed: the next rotate writes one.
    old = compose.Project.live(AppPaths("shop"), has_override=False)
    assert compose.base(old) == BASE[:-2]


# ---- docker ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "filters"),
    [
        (None, ["--filter", "label=com.docker.compose.project=shop"]),
        (
            "web",
            [
                "--filter",
                "label=com.docker.compose.project=shop",
                "--filter",
                "label=com.docker.compose.service=web",
            ],
        ),
    ],
)
def test_docker_project_containers(service, filters):
    assert docker.project_containers("shop", service) == [
        "docker",
        "ps",
        "--all",
        "--quiet",
        "--no-trunc",
        *filters,
    ]


def test_docker_inspect():
    assert docker.inspect(["abc", "def"]) == ["docker", "container", "inspect", "--", "abc", "def"]


@pytest.mark.parametrize(
    ("timeout", "flags"),
    [(None, []), (0, ["--time", "0"]), (30, ["--time", "30"])],
)
def test_docker_stop(timeout, flags):
    assert docker.stop(["a", "b"], timeout=timeout) == ["docker", "stop", *flags, "--", "a", "b"]


def test_docker_remove():
    assert docker.remove(["a"]) == ["docker", "rm", "--force", "--", "a"]


@pytest.mark.parametrize(("kwargs", "tail"), [({}, "20"), ({"tail": 5}, "5")])
def test_docker_logs(kwargs, tail):
    assert docker.logs("abc", **kwargs) == ["docker", "logs", "--tail", tail, "--", "abc"]


def test_docker_networks_and_volumes():
    label = "label=com.docker.compose.project=shop"
    assert docker.project_networks("shop") == [
        "docker",
        "network",
        "ls",
        "--quiet",
        "--filter",
        label,
    ]
    assert docker.remove_networks(["n1", "n2"]) == ["docker", "network", "rm", "--", "n1", "n2"]
    assert docker.project_volumes("shop") == [
        "docker",
        "volume",
        "ls",
        "--quiet",
        "--filter",
        label,
    ]
    assert docker.remove_volumes(["v"]) == ["docker", "volume", "rm", "--", "v"]


def test_docker_push_builders():
    assert docker.inspect_image("app:1") == [
        "docker",
        "image",
        "inspect",
        "--format",
        "{{.Id}} {{.Size}}",
        "--",
        "app:1",
    ]
    assert docker.save(["app:1", "worker:2"]) == [
        "docker",
        "image",
        "save",
        "--",
        "app:1",
        "worker:2",
    ]
    assert docker.load() == ["docker", "image", "load"]
    argv = docker.image_ids(["app:1", "-rf"])
    assert argv[:2] == ["sh", "-c"] and argv[3:] == ["sh", "app:1", "-rf"]  # names as $@


FAKE_DOCKER = """#!/bin/sh
# Stands in for `docker image inspect --format {{.Id}} -- NAME` (its last argument),
# printing what a real engine 20.10.24 printed for each case (see captured/README.md).
case "$6" in
  there:1) echo sha256:1111 ;;
  gone:1) echo "Error response from daemon: no such image: gone:1: No such image: gone:1" >&2
          exit 1 ;;
  *) echo "permission denied while trying to connect to the Docker daemon socket" >&2
     exit 1 ;;
esac
"""


@pytest.fixture
def fake_docker_path(tmp_path, monkeypatch):
    """A PATH whose `docker` answers as above: tests the script's branches, not docker."""
    (tmp_path / "docker").write_text(FAKE_DOCKER)
    (tmp_path / "docker").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")


def test_image_ids_says_missing_only_for_no_such_image(fake_docker_path):
    done = subprocess.run(docker.image_ids(["there:1", "gone:1"]), capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, "there:1\tsha256:1111\ngone:1\tmissing\n")
    # Any other failure stops: it must not read as "missing" and send every image.
    done = subprocess.run(docker.image_ids(["there:1", "x:1"]), capture_output=True, text=True)
    assert done.returncode == 1
    assert "permission denied" in done.stderr


# ---- fs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (fs.mkdir("/a b", mode=0o750), ["mkdir", "-p", "-m", "750", "--", "/a b"]),
        (fs.mkdir("/x", mode=0o700), ["mkdir", "-p", "-m", "700", "--", "/x"]),
        (fs.remove_tree("/srv/a"), ["rm", "-rf", "--", "/srv/a"]),
        (fs.remove_file("/srv/f"), ["rm", "-f", "--", "/srv/f"]),
        (fs.read("/srv/env"), ["cat", "--", "/srv/env"]),
        (fs.sha256(["/a", "/b"]), ["sha256sum", "--", "/a", "/b"]),
        (fs.list_dir("/srv"), ["ls", "-1", "-A", "--", "/srv"]),
        # test(1) takes no `--`: `test -e -- PATH` would be a syntax error.
        (fs.exists("/srv/x"), ["test", "-e", "/srv/x"]),
    ],
)
def test_fs(argv, expected):
    assert argv == expected


# ---- nginx -------------------------------------------------------------------


def test_nginx():
    assert nginx.test() == ["nginx", "-t"]
    assert nginx.dump() == ["nginx", "-T"]


def test_nginx_reload_is_confirmed_by_new_workers_of_the_pid_files_master():
    argv = nginx.reload_confirmed(10)
    assert argv[:2] == ["sh", "-c"] and argv[3:] == ["sh", "10"]
    script = argv[2]
    # The master comes from nginx's own pid file, never from `ps -C nginx`.
    assert "--pid-path=" in script and "--ppid" in script and "ps -C" not in script
    assert "nginx -s reload" in script


def test_candidate_compose_file_is_run_by_its_own_path():
    candidate = compose.Project(AppPaths("shop"), "/home/leo-deploy/apps/shop/.leo/c.yml")
    argv = compose.up(candidate, ["web"], no_deps=True, force_recreate=True)
    assert argv[5:10] == [
        "shop",
        "--project-directory",
        "/home/leo-deploy/apps/shop",
        "--file",
        "/home/leo-deploy/apps/shop/.leo/c.yml",
    ]
    assert argv[-4:] == ["--no-deps", "--force-recreate", "--", "web"]


# ---- all builders ----------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        compose.up(SHOP, ["web"], scale={"web": 2}),
        compose.run(SHOP, "web", "true", tty=False),
        docker.stop(["a"], timeout=3),
        docker.project_containers("shop", "web"),
        docker.save(["app:1"]),
        docker.load(),
        docker.inspect_image("app:1"),
        fs.mkdir("/x", mode=0o755),
        localcompose.config_json("c.yml"),
        localcompose.build("c.yml", "web"),
    ],
)
def test_argv_is_a_plain_list_of_strings_without_shell_tokens(argv):
    assert type(argv) is list
    assert all(type(arg) is str for arg in argv)
    assert not {"|", "&&", ";", ">", "<"} & set(argv)


def test_docker_login_takes_the_password_on_stdin_only():
    from leo_tasks.commands import docker as docker_cmds

    assert docker_cmds.login("registry.example.com", "ci") == [
        "docker",
        "login",
        "--username",
        "ci",
        "--password-stdin",
        "--",
        "registry.example.com",
    ]


def test_compose_pull_names_services_after_double_dash():
    from leo_tasks.commands import compose as compose_cmds

    assert compose_cmds.pull(SHOP, ["web", "worker"])[-5:] == [
        "pull",
        "--quiet",
        "--",
        "web",
        "worker",
    ]


def test_temp_file_sweep_spares_fresh_files_and_takes_a_killed_deploys_candidate(tmp_path):
    import os
    import subprocess
    import time

    (tmp_path / ".leo").mkdir()
    stale, fresh = tmp_path / "env.leo-tmp-1", tmp_path / "env.leo-tmp-2"
    candidate, mine = tmp_path / ".leo" / "candidate.compose.yml", tmp_path / "env"
    for path in (stale, fresh, candidate, mine):
        path.write_text("x")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    argv = fs.remove_temp_files(str(tmp_path), also=[str(candidate)])
    found = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()
    assert sorted(found) == sorted([str(stale), str(candidate)])
    assert fresh.exists() and mine.exists() and not stale.exists() and not candidate.exists()


def test_read_many_reads_what_exists_whatever_bytes_it_holds(tmp_path):
    from leo_tasks.facts import parse_files

    nasty = "a\x1eb\n\nlast line without newline é"
    (tmp_path / "one").write_text(nasty)
    (tmp_path / "empty").write_text("")
    names = [str(tmp_path / n) for n in ("one", "missing", "empty")]
    done = subprocess.run(fs.read_many(names), capture_output=True, text=True, check=True)
    assert parse_files(done.stdout) == {names[0]: nasty, names[2]: ""}


def test_install_candidates_keeps_the_previous_files_and_moves_each_into_place(tmp_path):
    live, candidate, previous = (tmp_path / n for n in ("live", "candidate", "previous"))
    new_live, new_candidate, new_previous = (tmp_path / n for n in ("l2", "c2", "p2"))
    live.write_text("old")
    candidate.write_text("new")
    new_candidate.write_text("first")  # no live file yet: nothing to keep
    moves = [
        (str(candidate), str(live), str(previous)),
        (str(new_candidate), str(new_live), str(new_previous)),
    ]
    subprocess.run(fs.install_candidates(moves), check=True)
    assert (live.read_text(), previous.read_text()) == ("new", "old")
    assert new_live.read_text() == "first" and not new_previous.exists()
    assert not candidate.exists() and not new_candidate.exists()


def test_files_from_stdin_reach_compose_as_two_files_and_nothing_is_written(tmp_path):
    """The dry run's script, with `cat` in place of docker compose: each text arrives
    whole (trailing newlines, quotes and non-ASCII kept) through /dev/fd, read by size."""
    from leo_tasks.commands.compose import with_files_from_stdin

    compose_text = "services:\n  web:\n    image: 'x:1' # ünïcode $HOME\n\n"
    override_text = "services:\n  web:\n    ports: !reset []\n"
    argv, stdin = with_files_from_stdin(AppPaths("shop"), compose_text, override_text, "config")
    assert argv[-1] == "config" and "--file" in argv and "/dev/fd/3" in argv
    script = [*argv[:6], "sh", "-c", 'cat /dev/fd/3; printf "|"; cat /dev/fd/4']
    done = subprocess.run(script, input=stdin.encode(), capture_output=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == compose_text + "|" + override_text
    assert list(tmp_path.iterdir()) == []


def test_dry_run_up_never_detaches_builds_or_pulls():
    from leo_tasks.commands.compose import dry_run_up

    argv = dry_run_up(["web", "worker"])
    assert argv[:2] == ["--dry-run", "up"] and "--no-start" in argv and "--no-build" in argv
    # docker/compose#14029: a dry run of `up --detach` was not dry in some versions.
    assert "--detach" not in argv and "-d" not in argv
    assert argv[argv.index("--pull") + 1] == "never"
    assert argv[-3:] == ["--", "web", "worker"]
