"""Concurrent batches naming the same activities and agents: no deadlock, nothing lost."""

from __future__ import annotations

import random
import threading

from sqlalchemy import func, select

from tests.xapi.conftest import statement
from xapi.store import ActivityRow, StatementRow

LANGUAGES = ["en-US", "de-DE", "fr-FR", "es-ES", "it-IT", "nl-NL"]
ACTIVITIES = [f"https://lms.plant.example/module/{i}" for i in range(12)]


def test_concurrent_batches_sharing_activities(app, lrs_headers, db):
    headers = lrs_headers["1.0.3"]
    failures: list[object] = []

    def send(seed: int) -> None:
        rng = random.Random(seed)
        client = app.test_client()
        for _ in range(4):
            order = ACTIVITIES[:]
            rng.shuffle(order)  # each batch meets the shared rows in another order
            batch = [
                statement(
                    object={"id": activity, "definition": {"name": {LANGUAGES[seed]: activity}}},
                    context={"contextActivities": {"parent": [{"id": order[-1]}]}},
                )
                for activity in order
            ]
            response = client.post("/xapi/statements", json=batch, headers=headers)
            if response.status_code != 200:
                failures.append(response.json)

    threads = [threading.Thread(target=send, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with db.read_sessions() as session:
        assert session.scalar(select(func.count()).select_from(StatementRow)) == 6 * 4 * len(ACTIVITIES)
        assert session.scalar(select(func.count()).select_from(ActivityRow)) == len(ACTIVITIES)
        merged = session.scalar(
            select(ActivityRow.definition).where(ActivityRow.activity_id == ACTIVITIES[0])
        )
        assert set(merged["name"]) == set(LANGUAGES)  # every batch's language kept: merged, not overwritten
