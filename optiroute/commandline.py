"""`manage.py`: Django's command line, with a missing set-up step answered in words, not a traceback.

A fresh clone's commands run against the development database that `make run` and `make test`
migrate. When a command meets a database without OptiRoute's tables (someone ran it first, or
pointed DATABASE_URL at an empty database) or cannot reach the database at all, it says what
is missing and which command sets it up, and exits 1.
"""

from __future__ import annotations

import os
import sys

MIGRATE_HINT = ("run `make run` or `make test` once (either one migrates the development database), "
                "or `.venv/bin/python manage.py migrate` for the database that DATABASE_URL names")


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "optiroute.settings")
    from django.core.management import execute_from_command_line
    from django.db.utils import OperationalError, ProgrammingError

    try:
        execute_from_command_line(argv)
    except ProgrammingError as exc:
        if not _missing_table(exc):
            raise
        return _fail(f"the database is not migrated to this release ({_first_line(exc)}): {MIGRATE_HINT}.")
    except OperationalError as exc:
        return _fail(f"cannot use the database: {_first_line(exc)}. Check DATABASE_URL (unset, OptiRoute starts "
                     "its embedded Postgres under .data/pg).")
    return 0


def _missing_table(exc: BaseException) -> bool:
    from psycopg import errors

    # A table, or a column a later release added: the database is behind this code.
    return isinstance(exc.__cause__, errors.UndefinedTable | errors.UndefinedColumn)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _fail(message: str) -> int:
    sys.stderr.write(f"error: {message}\n")
    return 1
