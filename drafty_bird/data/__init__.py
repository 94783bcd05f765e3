"""Data access: models, engine, migrations and every query. Nothing else touches SQL."""
