"""A fresh clone's commands: a database nobody migrated gets words, not a traceback, and the
set-up step that `make run` and `make test` share leaves every documented command working."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.conftest import ROOT, _database_url


@pytest.fixture
def empty_database(django_db_setup: object) -> Iterator[str]:
    """A new, empty database on the test server, as a fresh machine's DATABASE_URL would name."""
    name = f"fresh_{uuid.uuid4().hex[:10]}"
    url = _database_url()
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "OPTIROUTE_NO_BROKER": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_it_names_the_missing_migration_instead_of_a_traceback(empty_database: str) -> None:
    for command in (["create_api_key"], ["import_models"]):
        run = _run(empty_database, "manage.py", *command)
        assert run.returncode == 1, run.stderr
        assert "Traceback" not in run.stderr
        assert "not migrated" in run.stderr and "make run" in run.stderr and "migrate" in run.stderr


def test_it_prepares_a_database_so_documented_commands_work(empty_database: str) -> None:
    prepared = _run(empty_database, "-m", "optiroute.runner", "--prepare-only")
    assert prepared.returncode == 0, prepared.stderr
    created = _run(empty_database, "manage.py", "create_api_key")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip().splitlines()[-1].startswith("or-")
    listed = _run(empty_database, "manage.py", "shell", "-c",
                  "from registry.models import LLM; print(LLM.objects.count())")
    assert int(listed.stdout.split()[-1]) > 0  # the starter catalog
