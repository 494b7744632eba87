"""`make test`: prepare the development database, run the whole suite, then stop the embedded
services the run had to start.

The suite runs on its own test database; the development database is what `make run` and
every manage.py command of the README use, so it is migrated and given the starter catalog
first: after `make test` alone, those commands work.

The embedded Postgres and Valkey outlive the process that starts them (see optiroute.embedded),
which suits `make run` and manage.py commands. A test run on a fresh clone would leave them
running after it ends, and, once the clone is deleted, orphaned. Services that were up before
the run (a `make run` in another terminal) are left alone.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from optiroute.embedded import running, stop_started


def main(args: list[str]) -> int:
    before = running()
    prepared = subprocess.run([sys.executable, "-m", "optiroute.runner", "--prepare-only"], check=False)
    status = int(pytest.main(args)) if prepared.returncode == 0 else prepared.returncode
    stop_started(before)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
