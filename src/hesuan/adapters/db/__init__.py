"""SQL storage: schema (SQLAlchemy Core), engine set-up, migrations and the unit of work."""
