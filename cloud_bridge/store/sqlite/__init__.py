"""The SQLite back-end of the store: one file, WAL mode, one writer."""
