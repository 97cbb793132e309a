"""The storage boundary (issue 33): what a recording stores goes through named
operations, applied in order in one transaction by service/store/writes.py, and no
module outside service/store/ builds SQL."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from service.store import Athlete, Mark, Rep, Session, Step, Store, writes

SERVICE = Path(__file__).resolve().parent.parent / "service"
# What a module outside the store may take from SQLAlchemy: its errors, a URL parser.
ALLOWED = {"sqlalchemy.exc", "sqlalchemy.engine"}


def test_no_module_outside_the_store_builds_sql():
    found = []
    for path in SERVICE.rglob("*.py"):
        rel = path.relative_to(SERVICE)
        if rel.parts[0] in ("store", "dashboard"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            found += [f"{rel}: {n}" for n in names if n.startswith("sqlalchemy")]
    outside = [f for f in found if f.split(": ")[1] not in ALLOWED]
    assert not outside, outside
    assert found  # the walk saw the modules that do import SQLAlchemy's errors


def test_the_writer_dispatches_on_no_type():
    source = (SERVICE / "live" / "writer.py").read_text()
    calls = [
        n
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "isinstance"
    ]
    assert not calls


def _step(n: int, t: float) -> dict:
    return {"type": "step", "n": n, "rep": 1, "foot": "left", "ic_time_s": t,
            "source": "force", "provisional": True, "contact_time_s": 0.1}  # fmt: skip


def test_operations_apply_in_order_in_one_transaction(tmp_path):
    async def run():
        store = Store(f"sqlite+aiosqlite:///{tmp_path}/w.db")
        await store.open()
        try:
            athlete_id, _ = await writes.athlete_named(
                store, "A", lambda: Athlete(name="A", body_mass_kg=70.0, height_m=1.8)
            )
            row, _ = await writes.add_session(
                store,
                athlete_id,
                lambda a: Session(
                    athlete_id=a.id,
                    status="recording",
                    clock_origin_s=0.0,
                    model_version="t",
                    athlete_snapshot={},
                ),
            )
            sid = row.id
            rep = {"type": "rep", "rep": 1, "start_s": 0.9, "end_s": 2.0, "steps": 2}
            events = [_step(1, 1.0), _step(2, 1.5), {"type": "steps_retracted", "steps": [2]},
                      _step(2, 1.6), {"type": "confirmation", "n": 1}, rep]  # fmt: skip
            ops = writes.event_operations(sid, events)
            assert [type(op).__name__ for op in ops] == [
                "StepKept", "StepKept", "StepsRetracted", "StepKept", "RepKept"
            ]  # fmt: skip
            mark = writes.MarkMade(sid, 1.2, "flying 30 m")
            await writes.commit(store, operations=[*ops, mark])
            assert mark.id is not None
            async with store.session() as s:
                steps = (await s.scalars(select(Step).order_by(Step.seq))).all()
                reps = (await s.scalars(select(Rep))).all()
                marks = (await s.scalars(select(Mark))).all()
            # The retraction came between the two step 2s: the second one stands.
            assert [(st.seq, st.ic_time_s) for st in steps] == [(1, 1.0), (2, 1.6)]
            assert "provisional" not in steps[0].data and steps[0].data["contact_time_s"] == 0.1
            assert [(r.number, r.steps) for r in reps] == [(1, 2)]
            assert [(m.id, m.label) for m in marks] == [(mark.id, "flying 30 m")]

            # A failing operation takes its whole batch with it: nothing half-stored.
            bad = writes.StepKept(sid, {"type": "step", "n": 3})  # no ic_time_s: refused
            with pytest.raises(KeyError):
                await writes.commit(store, operations=[writes.StepKept(sid, _step(4, 2.0)), bad])
            async with store.session() as s:
                seqs = (await s.scalars(select(Step.seq).order_by(Step.seq))).all()
            assert list(seqs) == [1, 2]
        finally:
            await store.close()

    asyncio.run(run())
