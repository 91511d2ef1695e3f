"""--dry-run: prints what a run would change and leaves the host byte-identical.

"Byte-identical" is checked from outside, as root: the app's files, its .leo
state directory (release records, candidates, lock owner files), its containers
(IDs and states) and nginx's view. One app goes through every task's dry run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .conftest import domain_of
from .hostkit import APPS, container_states, containers, http_get, set_env, write_compose
from .test_env import NASTY
from .test_rotate import deploy_v1

CHANGES = 5  # errors.DRY_RUN_CHANGES, documented in the README


def host_state(app: str) -> dict[str, object]:
    """Everything a run could change, seen from outside: every file under the app's
    directory (content hashes), its containers, and the audit log if there is one."""
    root = APPS / app
    files = {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
    history = Path("/home/leo-deploy/history") / f"{app}.jsonl"
    return {
        "files": files,
        "containers": container_states(app),
        "history": history.read_bytes() if history.exists() else None,
    }


def dry(leo, *args: str):
    return leo(*args, "--host", "testhost", "--dry-run", ok=False)


def test_every_dry_run_prints_the_change_and_changes_nothing(leo, app, tmp_path):
    v1 = write_compose(tmp_path / "v1.yml", "leo-test-web:v1", worker="leo-test-worker:v1")

    # create: nothing exists yet, and nothing does afterwards.
    created = dry(leo, "create", "--app", app, "--compose", str(v1))
    assert created.returncode == CHANGES, created.stderr
    assert f"create app {app} in {APPS / app}" in created.stdout
    assert not (APPS / app).exists()

    deploy_v1(leo, app, tmp_path, worker="leo-test-worker:v1")
    before = host_state(app)

    # A rotate of what runs now changes nothing: same files, same config hashes, same images.
    same = dry(leo, "rotate", "--app", app)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "web: unchanged" in same.stdout and "worker: unchanged" in same.stdout
    assert "nothing to change" in same.stdout

    # A deploy of v2 of web and a changed worker: the diff, the images, the containers.
    v2 = write_compose(tmp_path / "v2.yml", "leo-test-web:v2", worker="leo-test-worker:v2")
    site = tmp_path / "site.conf"
    site.write_text((APPS / app / "nginx.conf").read_text() + "# tuned\n")
    planned = dry(leo, "deploy", "--app", app, "--compose", str(v2), "--nginx", str(site))
    assert planned.returncode == CHANGES, planned.stdout + planned.stderr
    out = planned.stdout
    assert "docker-compose.yml: changed" in out
    assert "-    image: leo-test-web:v1" in out and "+    image: leo-test-web:v2" in out
    assert "nginx.conf: changed" in out and "+# tuned" in out
    web_name = next(c.name for c in containers(app) if c.service == "web")
    assert "web: start 1 new beside the old ones (new image leo-test-web:v2)" in out
    assert f"then retire {web_name}" in out
    assert "worker: recreate" in out and "(new image leo-test-worker:v2)" in out
    assert "changes to make on leo-deploy@testhost (nothing was changed)" in planned.stderr

    # env edits: names only, never a value; the env file is not written.
    nasty = dry(leo, "env.set", "--app", app, "--name", "NASTY", "--value", NASTY["AMP"])
    assert nasty.returncode == CHANGES and "would set NASTY" in nasty.stdout
    assert NASTY["AMP"] not in nasty.stdout + nasty.stderr
    gone = dry(leo, "env.del", "--app", app, "--name", "NOT_SET")
    assert gone.returncode == 0 and "nothing to change" in gone.stdout
    same_value = dry(leo, "env.set", "--app", app, "--name", "LEO_DRAIN_SECONDS", "--value", "0.5")
    assert same_value.returncode == 0, same_value.stdout
    dotenv = tmp_path / ".env.production"
    dotenv.write_text(f"DATABASE_URL='{NASTY['AMP']}'\nLEO_DRAIN_SECONDS=0.5\n")
    pushed = dry(leo, "env.push", "--app", app, "--file", str(dotenv))
    assert pushed.returncode == CHANGES and "added DATABASE_URL" in pushed.stdout
    assert NASTY["AMP"] not in pushed.stdout + pushed.stderr

    assert host_state(app) == before
    status, body = http_get(domain_of(app))
    assert status == 200 and body.startswith("leo-test-web v1")

    # After a real deploy of v2, a rollback's dry run shows the way back to v1.
    leo("deploy", "--app", app, "--host", "testhost", "--compose", str(v2))
    set_env(leo, app, "EXTRA", "1")
    after = host_state(app)
    back = dry(leo, "rollback", "--app", app)
    assert back.returncode == CHANGES, back.stdout + back.stderr
    assert "rollback to release 1 of" in back.stdout
    assert "+    image: leo-test-web:v1" in back.stdout
    assert host_state(app) == after
    # The env file changed since the running containers were made: a rotate would
    # apply it (compose's config hash covers the env values).
    pending = dry(leo, "rotate", "--app", app)
    assert pending.returncode == CHANGES, pending.stdout
    assert "web: start 1 new beside the old ones (its configuration changed)" in pending.stdout
