"""`leo push`: local docker images to the hosts over SSH, no registry."""

from __future__ import annotations

from . import validate
from .errors import InvalidInput
from .history import Audit
from .localdocker import LocalDocker
from .steps import push as push_step
from .taskkit import cli_errors, each_host, leo_task, pushed, resolve


@leo_task(
    iterable=["image"],
    help={
        "image": "local image to copy, by name[:tag] or ID (repeatable)",
        "compress": "gzip the stream (default; --no-compress for a fast local network)",
    },
)
@cli_errors
def push(c, host=None, image=None, compress=True, verbose=False):
    """Copy local docker images to the hosts over SSH, no registry; skips what they have.

    `docker save` here streams into `docker load` on each host, all hosts at
    once. An image the host already has with the same ID is not sent again.
    """
    _, hosts = resolve(c, None, host, need_app=False)
    if not image:
        raise InvalidInput("no image given: pass --image IMAGE (repeatable)")
    references = [validate.pushed_image(ref) for ref in image]
    images = LocalDocker().images(references)  # all of them, before connecting anywhere
    each_host(
        c,
        hosts,
        verbose,
        lambda h: pushed(push_step.push_images(h, images, compress)),
        what="push",
        audit=Audit("push", args={"images": references}),
    )
