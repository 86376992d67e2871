"""Which driver errors mean a lost database connection (503 and a new pool) and which do not."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from psycopg import errors as pg_errors
from sqlalchemy import exc as sa_exc

from bridge.core.db import is_lost_connection


@pytest.mark.parametrize(
    ("error", "lost"),
    [
        (pg_errors.AdminShutdown("terminating connection due to administrator command"), True),
        (pg_errors.CannotConnectNow("the database system is starting up"), True),
        (pg_errors.ConnectionFailure("connection failure"), True),
        (psycopg.OperationalError("server closed the connection unexpectedly"), True),
        (pg_errors.UniqueViolation("duplicate key value"), False),
        (pg_errors.SerializationFailure("could not serialize access"), False),
        (pg_errors.QueryCanceled("canceling statement due to statement timeout"), False),
        (sqlite3.OperationalError("database is locked"), False),
        (ValueError("not a database error"), False),
    ],
)
def test_lost_connection_errors(error, lost):
    assert is_lost_connection(error) is lost
    wrapped = sa_exc.DBAPIError("SELECT 1", {}, error)
    assert is_lost_connection(wrapped) is lost


def test_an_error_sqlalchemy_marked_as_a_disconnect_is_lost():
    wrapped = sa_exc.DBAPIError("SELECT 1", {}, pg_errors.UniqueViolation("x"), connection_invalidated=True)
    assert is_lost_connection(wrapped) is True
