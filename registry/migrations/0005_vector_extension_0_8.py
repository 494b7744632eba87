from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import migrations

MINIMUM = (0, 8)


def update_vector_extension(apps: Any, schema_editor: Any) -> None:
    """A database created under pgvector 0.6 keeps that version of the extension until it is
    updated, even on a server that ships 0.8: bring it to the server's own version, and refuse
    one that is older than the iterative index scans of scoped searches need."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("ALTER EXTENSION vector UPDATE")
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        version = cursor.fetchone()[0]
    if tuple(int(part) for part in version.split(".")[:2]) < MINIMUM:
        raise ImproperlyConfigured(f"pgvector {version} is installed on the database server; OptiRoute needs "
                                   f"{'.'.join(map(str, MINIMUM))} or later (iterative index scans)")


class Migration(migrations.Migration):

    dependencies = [
        ('registry', '0004_hnsw_ef_construction_200'),
    ]

    operations = [migrations.RunPython(update_vector_extension, migrations.RunPython.noop)]
