"""The data layer: database setup, models, migrations and the named queries views use."""
