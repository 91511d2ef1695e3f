"""Pure argv builders: each function returns the list[str] to run on a host.

Nothing here does I/O; the seam (remote.py) runs what these return. Names and
paths are validated before they get here and always come after `--` where the
tool accepts it, so they can never be read as options.
"""
