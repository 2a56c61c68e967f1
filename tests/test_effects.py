"""Function effects: solved to a fixed point over cycles of calls, whichever function is asked first, and kept
in a form that round-trips through JSON."""

from __future__ import annotations

import ast
import textwrap

from flake8_async_sqla.core.model import SemanticModel
from flake8_async_sqla.core.project import ProjectIndex
from flake8_async_sqla.core.summaries import (
    EFFECTS, FunctionSummary, SessionHandout, function_from_json, function_to_json,
)

RECURSION = """
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker
from app.engines import sync_engine

SessionLocal = sessionmaker(bind=sync_engine)


def even(n):
    return True if n == 0 else odd(n - 1)


def odd(n):
    if n == 0:
        return False
    return even(n - 1) and leaf(n)


def leaf(n):
    with SessionLocal() as session:
        return session.execute(text("SELECT 1")).scalar_one() == n


def spin(n):
    return spin(n - 1) if n else 0


def save(db, obj, depth):
    db.add(obj)
    if depth:
        return save_more(db, obj, depth - 1)
    db.commit()


def save_more(db, obj, depth):
    return save(db, obj, depth)


def walk(engine, depth):
    if depth:
        walk(engine, depth - 1)
    with engine.connect() as connection:
        return connection


def dispose_after(engine, depth):
    if depth:
        return dispose_after(engine, depth - 1)
    engine.dispose()
"""


def summaries(source: str, *asked: str) -> dict[str, FunctionSummary]:
    """The summaries of a module's functions, their effects computed in the order `asked` names them."""
    model = SemanticModel(ast.parse(textwrap.dedent(source)), "/nowhere/app/module.py", index=ProjectIndex())
    found = {scope.name: model.function_summary(scope) for scope in model.scopes if scope.kind == "function"}
    for name in asked:
        for effect in EFFECTS:
            getattr(found[name], effect)
    return found


def effects_of(summary: FunctionSummary) -> dict[str, object]:
    return {effect: getattr(summary, effect) for effect in EFFECTS}


def test_mutually_recursive_functions_get_the_same_effects_whichever_is_asked_first() -> None:
    even_first = summaries(RECURSION, "even", "odd")
    odd_first = summaries(RECURSION, "odd", "even")
    for name in ("even", "odd", "save", "save_more", "walk"):
        assert effects_of(even_first[name]) == effects_of(odd_first[name]), name
    assert even_first["even"].blocking_io == even_first["odd"].blocking_io == "sync session `session` in `module.leaf`"


def test_a_recursion_with_no_effect_settles_on_none() -> None:
    spin = summaries(RECURSION, "spin")["spin"]
    assert spin.blocking_io is None and spin.session_io_names == frozenset() and spin.hidden_commits == frozenset()


def test_a_commit_reached_around_a_cycle_is_found_from_either_side() -> None:
    for order in (("save", "save_more"), ("save_more", "save")):
        found = summaries(RECURSION, *order)
        assert found["save"].hidden_commits == found["save_more"].hidden_commits == frozenset({"db"})


def test_a_parameter_handed_around_a_recursion_stays_borrowed_unless_released() -> None:
    found = summaries(RECURSION, "walk", "dispose_after")
    assert "engine" in found["walk"].borrowed_parameters
    assert "engine" not in found["dispose_after"].borrowed_parameters


def test_every_effect_round_trips_through_json() -> None:
    for summary in summaries(RECURSION).values():
        data = function_to_json(summary)
        assert set(EFFECTS) <= set(data["effects"])
        assert effects_of(function_from_json(data)) == effects_of(summary)


def test_a_forgone_summary_keeps_no_effects_and_asks_its_fallback() -> None:
    """A function nobody else names is not computed when its model goes: its JSON form holds none of its
    effects, and an effect asked after all comes from its fallback (the index rebuilds the model)."""
    asked: list[str] = []
    summary = FunctionSummary("app.routes.handler", True, probes={"handout": lambda: SessionHandout(yields="async")})
    summary.forgo(lambda effect: asked.append(effect) or EFFECTS[effect](summary))
    data = function_to_json(summary)
    assert data["effects"] is None and not asked
    assert summary.blocking_io is None and asked == ["blocking_io"]
    assert not function_from_json(data).complete


def test_a_function_no_other_module_names_is_forgone_and_rebuilt_when_asked(tmp_path) -> None:
    package = tmp_path / "app"
    package.mkdir()
    (tmp_path / "pyproject.toml").write_text("")
    (package / "__init__.py").write_text("")
    (package / "db.py").write_text(textwrap.dedent('''
        from sqlalchemy import create_engine

        def named_elsewhere():
            return create_engine("sqlite://")

        def named_nowhere():
            return create_engine("sqlite://")
    '''))
    (package / "main.py").write_text("from app.db import named_elsewhere\n")
    index = ProjectIndex()
    db = str(package / "db.py")
    index.model_for(db)
    index.release(db)
    symbols = index._released_module(db).symbols
    kept, forgone = symbols["named_elsewhere"].function, symbols["named_nowhere"].function
    assert kept.complete and not forgone.complete
    assert forgone.creates_engine == kept.creates_engine == "sync" and index.effects_rebuilt == 1


def test_a_summary_without_probes_has_no_effects() -> None:
    summary = FunctionSummary("app.deps.get_session", True, probes={"handout": lambda: SessionHandout(yields="async")})
    assert summary.yields_session == "async"
    assert summary.blocking_io is None and summary.borrowed_parameters == frozenset() and summary.attribute_parameters == {}
