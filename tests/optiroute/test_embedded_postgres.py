"""The embedded Postgres refuses a data folder of another major version with a message that says what to do."""

import pytest

from optiroute import embedded


def test_a_data_folder_of_an_older_postgres_is_named_with_the_way_out(tmp_path, monkeypatch):
    # What the former pgserver package (Postgres 16) left: a data folder this release cannot start.
    old = tmp_path / "pg"
    old.mkdir()
    (old / "PG_VERSION").write_text("16\n")
    monkeypatch.setattr(embedded, "PG_DIR", old)

    with pytest.raises(RuntimeError, match=r"holds a Postgres 16 database and this release embeds Postgres 1[7-9]"
                                           r".*move .* aside"):
        embedded.postgres_url()
