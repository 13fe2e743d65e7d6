"""The store: every table behind one `Store` facade (SQLAlchemy lives here and nowhere else)."""

from geo_app.store.backup import BACKUP_FORMAT
from geo_app.store.records import Change, Conflict, StoredRecord
from geo_app.store.store import Store
from geo_app.store.targets import TargetChange

__all__ = ["BACKUP_FORMAT", "Change", "Conflict", "Store", "StoredRecord", "TargetChange"]
