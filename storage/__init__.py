"""Persistence for classhub: models, repositories, migrations, settings."""
