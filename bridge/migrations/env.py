"""Alembic environment: runs on the engine handed over by :mod:`bridge.migrate`."""

from alembic import context

from bridge.core.db import Base
from bridge.migrate import import_all_models

import_all_models()

config = context.config
engine = config.attributes["engine"]



def render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Render our column types as plain SQLAlchemy types in generated migrations."""
    from bridge.core.db import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


with engine.connect() as connection:
    context.configure(
        render_item=render_item,
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=engine.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
