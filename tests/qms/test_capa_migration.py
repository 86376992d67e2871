"""The qms_capa migration branch downgrades and upgrades cleanly on each backend."""

from __future__ import annotations

from sqlalchemy import inspect

from bridge import migrate
from bridge.core.db import make_engine

TABLES = {
    "qms_capa",
    "qms_capa_action",
    "qms_capa_action_assignment",
    "qms_deviation",
    "qms_deviation_person",
    "qms_deviation_document",
    "qms_training_assessment",
}


def test_branch_downgrades_and_upgrades(database_url):
    engine = make_engine(database_url)
    try:
        assert "qmscapa_0001" in migrate.current(engine)
        migrate.downgrade(engine, "qms_capa@base")
        assert not TABLES & set(inspect(engine).get_table_names())
        assert "qms_assignment" in inspect(engine).get_table_names()  # the qms branch stays
        assert "qmscapa_0001" not in migrate.current(engine)
    finally:
        migrate.upgrade(engine)
        engine.dispose()
    engine = make_engine(database_url)
    assert TABLES <= set(inspect(engine).get_table_names())
    assert "qmscapa_0001" in migrate.current(engine)
    engine.dispose()
