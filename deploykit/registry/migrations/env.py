"""Alembic environment for the deploykit registry.

deploykit runs migrations itself (deploykit.registry.migrate) and hands over an
open connection in ``config.attributes["connection"]``. For the ``alembic``
command line, set ``sqlalchemy.url`` in the configuration.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from deploykit.registry.tables import metadata

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER TABLE on SQLite
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
    else:
        engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.connect() as connection:
            _run(connection)
        engine.dispose()
