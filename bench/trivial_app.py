"""A trivial Flask app, served by bench/lrs.py under the same gunicorn settings as the record
store: the rate of a request that does nothing, beside which the single POST's rate is read."""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/")
def ok() -> tuple[str, int]:
    """Answer 200 with two bytes."""
    return "ok", 200
