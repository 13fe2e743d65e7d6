"""The store: every table behind one `Store` facade (SQLAlchemy lives here and nowhere else)."""

from geo_app.store.store import BACKUP_FORMAT, Change, Conflict, Store, StoredRecord
from geo_app.store.targets import TargetChange

__all__ = ["BACKUP_FORMAT", "Change", "Conflict", "Store", "StoredRecord", "TargetChange"]
