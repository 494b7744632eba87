"""`make test`: run the whole suite, then stop the embedded services the run had to start.

The embedded Postgres and Valkey outlive the process that starts them (see optiroute.embedded),
which suits `make run` and manage.py commands. A test run on a fresh clone would leave them
running after it ends, and, once the clone is deleted, orphaned. Services that were up before
the run (a `make run` in another terminal) are left alone.
"""

from __future__ import annotations

import sys

import pytest

from optiroute.embedded import running, stop_started


def main(args: list[str]) -> int:
    before = running()
    status = int(pytest.main(args))
    stop_started(before)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
