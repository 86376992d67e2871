"""The demo plant's year, told through the services on a moving clock.

``gxpbridge demo load`` hands the loaders a unit of work whose clock stands a year before the
present (``bridge.core.demo.HISTORY_DAYS``); :func:`load` walks it to the present:

* day 0: three SOPs issued by one change control and the GMP e-learning course, in force on day 7;
  operator1, operator2 (production, granulator) and the supervisor (QC analyst) hired on day 3;
* operator1 and the supervisor train on time; operator2 signs SOP-001 late and never SOP-014;
* warehouse operators hired through the year pass the GMP course in the LMS: on time, late, not
  at all, and one hired last month who still has time;
* a minor revision of SOP-001 (1.1, no retraining) in month 2, a major one of SOP-020 (2.0) in
  month 7 and of SOP-001 (2.0) in month 10, each by change control;
* a major deviation on the granulator in month 4 (training inadequate) raising a CAPA whose
  training action operator2 never completes, a minor one in month 8 (adequate, closed);
* a major revision of SOP-014 waiting for approval in a change control at the end.

At the present the GMP course's annual retraining falls due for those who took it a year ago,
and operator2 has overdue training. The clock is left at the present.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bridge.core.uow import UnitOfWork
from qms.capa import demo as capa_demo
from qms.demo_plant import (
    Plant,
    Timeline,
    change_control,
    draft_version,
    hire,
    pass_course,
    person_of,
    set_up,
    sign_read_and_understood,
)

logger = logging.getLogger(__name__)

# Warehouse operators: (name, day hired, day they pass the GMP course or None).
WAREHOUSE_HIRES = (
    ("Wanda Berg", 20, 26),  # on time
    ("Karl Hansen", 80, 100),  # on time
    ("Priya Nair", 140, 185),  # late: due on day 170
    ("Tom Okafor", 190, 200),  # on time
    ("Lena Vogel", 260, None),  # never: overdue since day 290
    ("Marco Rossi", 345, None),  # hired last month, due in two weeks
)


def _story(uow: UnitOfWork, plant: Plant, year: Timeline) -> list[tuple[float, Callable[[], Any]]]:
    """The year's steps as (day, step); steps of the same day run in the order listed."""
    items, docs = plant.items, plant.documents
    people: dict[str, int] = {}

    def sign(username: str, code: str) -> Callable[[], Any]:
        return lambda: sign_read_and_understood(uow, username, items[code])

    def gmp(username: str, score: float) -> Callable[[], Any]:
        return lambda: pass_course(uow, person_of(uow, username), items["GMP-101"], score)

    def hire_user(username: str, department: str, job_function: str, *equipment: str) -> Callable[[], Any]:
        return lambda: hire(uow, plant, username=username, department=department,
                            job_function=job_function, equipment=equipment)

    def hire_warehouse(name: str) -> Callable[[], Any]:
        return lambda: people.setdefault(name, hire(uow, plant, name=name, department="WH",
                                                    job_function="WH-OPERATOR"))

    def warehouse_gmp(name: str) -> Callable[[], Any]:
        return lambda: pass_course(uow, people[name], items["GMP-101"], 0.85)

    def revise(code: str, label: str, revision: str, summary: str, title: str, impact: str,
               in_force: float, approve: bool = True, gate: float | None = None) -> Callable[[], Any]:
        def step() -> None:
            version = draft_version(uow, docs[code], label, revision, summary)
            change_control(uow, [version], title=title, impact=impact, effective_at=year.moment(in_force),
                           approve=approve, min_trained_pct=gate)
        return step

    story: list[tuple[float, Callable[[], Any]]] = [
        (3, hire_user("operator1", "PROD", "OPERATOR", "GRAN-01")),
        (3, hire_user("operator2", "PROD", "OPERATOR", "GRAN-01")),
        (3, hire_user("supervisor", "QC", "QC-ANALYST")),
        (10, sign("operator1", "SOP-001")),
        (10, sign("operator1", "SOP-014")),
        (12, gmp("operator1", 0.92)),
        (14, sign("supervisor", "SOP-020")),
        (14, gmp("supervisor", 0.88)),
        (16, gmp("operator2", 0.81)),
        (45, sign("operator2", "SOP-001")),  # two weeks late; SOP-014 stays overdue
        (60, revise("SOP-001", "1.1", "minor", "typographical corrections",
                    "SOP-001: typographical corrections", "Minor revision: no retraining.", 67)),
        (115, lambda: capa_demo.granulator_deviation(uow, plant, year.moment(113.4))),
        (130, sign("operator1", "SOP-020")),  # the CAPA's training, on time; operator2 never
        (201, revise("SOP-020", "2.0", "major", "new sampling plan (sqrt(n)+1)",
                     "SOP-020: sampling plan sqrt(n)+1",
                     "Major revision: QC analysts retrain before it comes into force.", 214)),
        (205, sign("supervisor", "SOP-020")),
        (250, lambda: capa_demo.sampling_deviation(uow, plant, year.moment(248.6))),
        (300, revise("SOP-001", "2.0", "major", "new gowning sequence",
                     "SOP-001: new gowning sequence for grade C",
                     "Major revision: operators retrain before it comes into force.", 320)),
        (310, sign("operator1", "SOP-001")),  # on time; operator2 does not retrain
        (350, revise("SOP-014", "2.0", "major", "new cleaning agent and contact time",
                     "Change of cleaning agent for GRAN-01",
                     "Cleaning procedure steps 4-7 change: operators must retrain.",
                     year.days + 14, approve=False, gate=80)),
    ]
    for name, hired, passed in WAREHOUSE_HIRES:
        story.append((hired, hire_warehouse(name)))
        if passed is not None:
            story.append((passed, warehouse_gmp(name)))
    return story


def load(uow: UnitOfWork) -> None:
    """Tell the demo plant's year (called by ``gxpbridge demo load`` after the demo users exist)."""
    year = Timeline(uow)
    plant = set_up(uow, year)
    for day, step in sorted(_story(uow, plant, year), key=lambda entry: entry[0]):
        year.day(day)
        step()
    year.day(year.days)
    logger.info("qms demo: a year of history loaded, up to %s", uow.clock.now().isoformat())
