"""What database.tune sets on every SQLite connection the app opens."""
from sendapp.extensions import db


def test_each_connection_has_wal_foreign_keys_and_temporary_storage_in_memory(app):
    """Temporary storage in memory keeps the message writer's statement journal off disk
    (a file opened, written page by page and closed per batch otherwise)."""
    with app.app_context(), db.engine.connect() as connection:
        def pragma(name):
            return connection.exec_driver_sql(f"PRAGMA {name}").scalar()

        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        assert pragma("temp_store") == 2  # MEMORY
