"""The versioned catalog store: migrations, imports, reads and the event log."""
