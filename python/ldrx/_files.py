"""Writing files safely: the one helper every writer of ldrx uses (datasets, model files, aenet and LAMMPS
exports, checkpoints). It depends on nothing else in ldrx, so every layer can use it."""

from __future__ import annotations

import os
import tempfile

__all__ = ["atomic_write", "current_umask"]


def current_umask() -> int:
    """The process umask, read without changing it where the system allows (/proc/self/status)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # portable fallback: briefly set, then restore
    os.umask(mask)
    return mask


def atomic_write(path, write, mode: int | None = None):
    """Call write(fileobj) on a temporary file next to `path`, flush it to disk (fsync), then rename it into
    place, so a crash never leaves a half-written or empty file under `path`.

    The file gets the permissions an ordinary ``open(path, "w")`` would give (0o666 minus the umask), not
    the owner-only 0o600 of a temporary file, so a potential written for a group (or for LAMMPS run as
    another user) can be read by them; `mode` overrides this."""
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        os.fchmod(fd, (0o666 & ~current_umask()) if mode is None else mode)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable
        dfd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
