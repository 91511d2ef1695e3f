"""Repository tasks: leo's own collection (`inv rotate --app shop --host prod`)
plus developer tasks (`inv dev.test`, `inv dev.lint`).

In your own project, import the collection the same way:
    from invoke import Collection
    from leo_tasks import ns as leo
    ns = Collection(leo, ...your tasks...)   # or Collection(); ns.add_collection(leo)
"""

from invoke import Collection, task

from leo_tasks import ns as leo_ns


@task
def test(c, unit=False):
    """Run the test suite (provisions the local test host first unless --unit)."""
    if unit:
        c.run("python -m pytest -q tests/unit", pty=False)
    else:
        c.run("bash scripts/test.sh", pty=False)


@task
def lint(c):
    """ruff check + format check."""
    c.run("ruff check . && ruff format --check .")


ns = Collection()
for name, leo_task in leo_ns.tasks.items():
    ns.add_task(leo_task, name)
for name, sub in leo_ns.collections.items():
    ns.add_collection(sub, name)
ns.add_collection(Collection("dev", test, lint))
ns.configure(leo_ns.configuration())
