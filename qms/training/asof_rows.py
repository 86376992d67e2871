"""The as-of rule (DESIGN.md, "When is a person trained?") as set-based queries that select only
the columns the answer needs: the versions in force at a moment, the requirements in force for
people, and each person's best completion per item — one query per question and batch of people,
never an ORM object per person or per completion.

:mod:`qms.training.asof` builds its answers from these rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from qms.documents.models import TrainingItemVersion
from qms.org.models import PersonDepartment, PersonEquipment, PersonJobFunction
from qms.training import scope as in_scope
from qms.training.models import Completion, Requirement

# Past this many items an IN list costs more than reading every item's row (a few thousand).
_ITEM_FILTER_LIMIT = 900
# Past this many people their completions are read in one pass rather than in batches.
_ONE_PASS_PEOPLE = 3600


class VersionRow(NamedTuple):
    """The columns of a training item version the rule reads."""

    id: int
    training_item_id: int
    seq: int
    baseline_seq: int
    label: str


class NeedRow(NamedTuple):
    """One person × requirement in force, with the requirement's columns the rule reads."""

    person_id: int
    requirement_id: int
    training_item_id: int
    scope: str
    job_function_id: int | None
    department_id: int | None
    equipment_id: int | None
    retrain_interval_days: int | None
    grace_days: int

    @property
    def scope_id(self) -> int:
        """The job function, department or equipment the requirement is attached to."""
        return self.job_function_id or self.department_id or self.equipment_id or 0


class BestRow(NamedTuple):
    """A person's latest completion (by ``completed_at``) satisfying the version of an item in force."""

    completion_id: int
    item_version_id: int
    version_label: str
    completed_at: dt.datetime
    method: str


class PairAsOf(NamedTuple):
    """How one person × requirement stood: the version in force, whether a completion satisfied
    it, when the best one was made (and, when asked for, which it was), lapsed or not.
    """

    need: NeedRow
    required: VersionRow | None
    trained: bool
    completed_at: dt.datetime | None
    best: BestRow | None
    expired: bool

    @property
    def met(self) -> bool:
        """Met: a satisfying completion that had not lapsed (never when nothing was in force)."""
        return self.trained and not self.expired


def _in_force_condition(version: type[TrainingItemVersion], at: dt.datetime) -> object:
    return and_(
        version.effective_since.is_not(None),
        version.effective_since <= at,
        or_(version.ended_at.is_(None), version.ended_at > at),
    )


def versions_in_force(
    session: Session, item_ids: Sequence[int] | None, at: dt.datetime
) -> dict[int, VersionRow]:
    """The version of each item in force at ``at`` (every item's when ``item_ids`` is None)."""
    stmt = (
        select(
            TrainingItemVersion.id,
            TrainingItemVersion.training_item_id,
            TrainingItemVersion.seq,
            TrainingItemVersion.baseline_seq,
            TrainingItemVersion.label,
        )
        .where(_in_force_condition(TrainingItemVersion, at))
        .order_by(TrainingItemVersion.id)
    )
    wanted = None if item_ids is None else set(item_ids)
    if wanted is not None and len(wanted) <= _ITEM_FILTER_LIMIT:
        stmt = stmt.where(TrainingItemVersion.training_item_id.in_(sorted(wanted) or [0]))
    found: dict[int, VersionRow] = {}
    for row in session.execute(stmt):
        if wanted is None or row.training_item_id in wanted:
            found[row.training_item_id] = VersionRow(*row)
    return found


def need_rows(
    session: Session,
    person_ids: Sequence[int] | None,
    at: dt.datetime,
    *,
    item_ids: Sequence[int] | None = None,
) -> list[NeedRow]:
    """Every requirement in force at ``at`` for each of ``person_ids`` (everyone's when None)
    through their memberships then in force: the same pairs as :func:`qms.training.scope.needs_of`
    (the caller keeps the people employed at ``at``).

    The memberships and the requirements of the units they name are read apart and paired here:
    a join lets a planner scan every requirement once per membership when a scope's column is
    mostly empty (department and equipment requirements are few), seconds on a large plant.
    """
    scopes = (
        (PersonJobFunction, PersonJobFunction.job_function_id, Requirement.job_function_id),
        (PersonDepartment, PersonDepartment.department_id, Requirement.department_id),
        (PersonEquipment, PersonEquipment.equipment_id, Requirement.equipment_id),
    )
    items = None if item_ids is None else sorted(set(item_ids))
    batches: list[Sequence[int] | None] = (
        [None] if person_ids is None else list(in_scope.chunks(sorted(set(person_ids))))
    )
    found: list[NeedRow] = []
    for membership, member_col, req_col in scopes:
        held: list[tuple[int, int]] = []
        for chunk in batches:
            stmt = (
                select(membership.person_id, member_col)
                .where(in_scope.active_at(membership, at))
                .order_by(membership.person_id, membership.id)
            )
            if chunk is not None:
                stmt = stmt.where(membership.person_id.in_(chunk))
            held.extend((pid, unit) for pid, unit in session.execute(stmt))
        by_unit: dict[int, list[tuple[Any, ...]]] = {}
        for units in in_scope.chunks(sorted({unit for _pid, unit in held})):
            stmt = (
                select(
                    req_col,
                    Requirement.id,
                    Requirement.training_item_id,
                    Requirement.scope,
                    Requirement.job_function_id,
                    Requirement.department_id,
                    Requirement.equipment_id,
                    Requirement.retrain_interval_days,
                    Requirement.grace_days,
                )
                .where(req_col.in_(units), in_scope.active_at(Requirement, at))
                .order_by(Requirement.id)
            )
            if items is not None:
                stmt = stmt.where(Requirement.training_item_id.in_(items or [0]))
            for unit, *requirement in session.execute(stmt):
                by_unit.setdefault(unit, []).append(tuple(requirement))
        for pid, unit in held:
            found.extend(NeedRow(pid, *requirement) for requirement in by_unit.get(unit, ()))
    return found


def best_completions(
    session: Session,
    person_ids: Sequence[int] | None,
    at: dt.datetime,
    *,
    item_ids: Sequence[int] | None = None,
) -> dict[tuple[int, int], BestRow]:
    """For each (person, item): the latest completion made and recorded by ``at`` on a version
    that satisfies the version then in force (``baseline_seq`` of the one in force up to it, or
    later; :func:`qms.training.scope.satisfies`); the lowest id among equal times.

    One query per batch of people (of every person when ``person_ids`` is None), ranked in the
    database so that only the best row of each pair is read.
    """
    done = aliased(TrainingItemVersion)
    required = aliased(TrainingItemVersion)
    rank = func.row_number().over(
        partition_by=(Completion.person_id, Completion.training_item_id),
        order_by=(Completion.completed_at.desc(), Completion.id),
    )
    base = (
        select(
            Completion.person_id,
            Completion.training_item_id,
            Completion.id,
            Completion.item_version_id,
            done.label,
            Completion.completed_at,
            Completion.method,
            rank.label("rank"),
        )
        .join(done, done.id == Completion.item_version_id)
        .join(
            required,
            and_(required.training_item_id == Completion.training_item_id, _in_force_condition(required, at)),
        )
        .where(Completion.completed_at <= at, Completion.recorded_at <= at, done.seq >= required.baseline_seq)
    )
    items = None if item_ids is None else sorted(set(item_ids))
    if items is not None:
        base = base.where(Completion.training_item_id.in_(items or [0]))
    batches: list[Sequence[int] | None] = (
        [None] if person_ids is None else list(in_scope.chunks(sorted(set(person_ids))))
    )
    found: dict[tuple[int, int], BestRow] = {}
    for chunk in batches:
        stmt = base if chunk is None else base.where(Completion.person_id.in_(chunk))
        ranked = stmt.subquery()
        for pid, item, *best in session.execute(
            select(
                ranked.c.person_id,
                ranked.c.training_item_id,
                ranked.c.id,
                ranked.c.item_version_id,
                ranked.c.label,
                ranked.c.completed_at,
                ranked.c.method,
            ).where(ranked.c.rank == 1)
        ):
            found[(pid, item)] = BestRow(*best)
    return found


def best_completion_times(
    session: Session,
    person_ids: Sequence[int] | None,
    at: dt.datetime,
    *,
    item_ids: Sequence[int] | None = None,
    timed_items: Sequence[int] | None = None,
) -> dict[tuple[int, int], dt.datetime | None]:
    """Each (person, item) with a completion on a version satisfying the one in force at ``at``
    (made and recorded by then), and when the last was made: :func:`best_completions` without
    naming the completion, grouped in the database (what counting met requirements needs).

    With ``timed_items`` the time is read only for those items (the periodic ones, whose lapse
    depends on it): the others map to None, existence being all they need.
    """
    done = aliased(TrainingItemVersion)
    required = aliased(TrainingItemVersion)
    last = func.max(Completion.completed_at)
    if timed_items is not None and len(set(timed_items)) <= _ITEM_FILTER_LIMIT:
        last = func.max(
            case((Completion.training_item_id.in_(sorted(set(timed_items))), Completion.completed_at))
        )
    base = (
        select(Completion.person_id, Completion.training_item_id, last)
        .join(done, done.id == Completion.item_version_id)
        .join(
            required,
            and_(required.training_item_id == Completion.training_item_id, _in_force_condition(required, at)),
        )
        .where(Completion.completed_at <= at, Completion.recorded_at <= at, done.seq >= required.baseline_seq)
        .group_by(Completion.person_id, Completion.training_item_id)
    )
    items = None if item_ids is None else sorted(set(item_ids))
    if items is not None:
        base = base.where(Completion.training_item_id.in_(items or [0]))
    batches: list[Sequence[int] | None] = (
        [None] if person_ids is None else list(in_scope.chunks(sorted(set(person_ids))))
    )
    found: dict[tuple[int, int], dt.datetime | None] = {}
    for chunk in batches:
        stmt = base if chunk is None else base.where(Completion.person_id.in_(chunk))
        found.update(((pid, item), when) for pid, item, when in session.execute(stmt))
    return found


def evaluate_pairs(
    session: Session,
    person_ids: Sequence[int] | None,
    at: dt.datetime,
    *,
    item_ids: Sequence[int] | None = None,
    detail: bool = True,
) -> tuple[set[int], set[int], list[PairAsOf]]:
    """The rule applied to people at ``at``: (employed, on leave, every person × requirement in
    force through their memberships with its version in force, best completion and lapse).

    ``person_ids`` None means every person (read in one pass rather than in batches). Without
    ``detail`` the pairs say when the best completion was made, not which it was (``best`` None).
    """
    people = sorted(set(person_ids)) if person_ids is not None else None
    employed = in_scope.employed_people_at(session, people, at)
    leave = in_scope.on_leave(session, sorted(employed if people is None else people), at)
    # Much of the plant is read in one pass (a batch of 900 people at a time costs more), and
    # the rows of people not asked about are left out here.
    whole = people is None or len(employed) > _ONE_PASS_PEOPLE
    needs = [
        n
        for n in need_rows(session, None if whole else sorted(employed), at, item_ids=item_ids)
        if n.person_id in employed
    ]
    if not needs:
        return employed, leave, []
    needed_items = sorted({n.training_item_id for n in needs})
    in_force = versions_in_force(session, needed_items, at)
    asked = None if whole else sorted(employed)
    best = best_completions(session, asked, at, item_ids=item_ids) if detail else {}
    periodic = sorted({n.training_item_id for n in needs if n.retrain_interval_days})
    times = (
        {key: row.completed_at for key, row in best.items()}
        if detail
        else best_completion_times(session, asked, at, item_ids=item_ids, timed_items=periodic)
    )
    pairs = []
    for need in needs:
        required = in_force.get(need.training_item_id)
        key = (need.person_id, need.training_item_id)
        trained = required is not None and key in times
        last = times[key] if trained else None
        expired = False
        if last is not None and need.retrain_interval_days:
            lapse = last + dt.timedelta(days=need.retrain_interval_days + need.grace_days)
            expired = lapse <= at
        pairs.append(PairAsOf(need, required, trained, last, best.get(key) if trained else None, expired))
    return employed, leave, pairs


def explanation(pair: PairAsOf) -> str:
    """Why a pair was met or not, in words (the rule's reasons)."""
    if pair.required is None:
        return "no version of the item was in force"
    if not pair.trained:
        return f"no completion on version {pair.required.label} or an equivalent earlier version"
    if pair.expired:
        return "the last completion had lapsed (periodic retraining interval and grace passed)"
    if pair.best is None or pair.completed_at is None:  # counted, not detailed
        return "completed a version that satisfies it"
    return f"completed version {pair.best.version_label} at {pair.completed_at.isoformat()}"
