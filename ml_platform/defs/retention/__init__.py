"""Retention: the declared policy, carried out daily (`retention_report`, group `maintenance`)."""
