"""The store: every table behind one `Store` facade (SQLAlchemy lives here and nowhere else)."""

from geo_app.store.store import BACKUP_FORMAT, Change, Conflict, Store, StoredRecord

__all__ = ["BACKUP_FORMAT", "Change", "Conflict", "Store", "StoredRecord"]
