"""A folder nobody may write in, even when the tests run as root (which ignores mode bits)."""

import contextlib
import os
import subprocess
import tempfile

import pytest


@contextlib.contextmanager
def read_only(folder):
    """Make `folder` unwritable for the block: mode 0555, and the immutable attribute when mode bits do
    not stop this user (root). Skips the test when neither works here."""
    os.chmod(folder, 0o555)
    immutable = False
    try:
        if _writable(folder):
            immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
            if not immutable or _writable(folder):
                pytest.skip("cannot make a read-only folder here")
        yield folder
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
        os.chmod(folder, 0o755)


def _writable(folder) -> bool:
    try:
        fd, name = tempfile.mkstemp(dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True
