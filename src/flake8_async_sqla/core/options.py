"""Names of a team's own wrappers, so the rules see through them (`make_engine()`, `get_db`, `DB.session()`)."""

from __future__ import annotations

from dataclasses import dataclass, fields

# Option name -> what a name listed under it is.
OPTION_HELP = {
    "engine_factories": "callables that create an engine, like create_async_engine (e.g. app.db.make_engine)",
    "session_factories": "callables whose call opens a session, like SessionLocal() (e.g. app.db.DB.session)",
    "session_dependencies": "dependencies that yield a request session, used as Depends(...) (e.g. app.deps.get_db)",
    "session_types": "classes or aliases whose annotated parameters hold a session (e.g. app.db.DBSession)",
}


@dataclass(frozen=True)
class AnalysisOptions:
    """Each entry is a qualified name, or its trailing part (`DB.session` matches `app.db.DB.session`)."""

    engine_factories: tuple[str, ...] = ()
    session_factories: tuple[str, ...] = ()
    session_dependencies: tuple[str, ...] = ()
    session_types: tuple[str, ...] = ()

    @staticmethod
    def matches(entries: tuple[str, ...], qualname: str | None) -> bool:
        return bool(qualname) and any(qualname == e or qualname.endswith("." + e) for e in entries)  # type: ignore[union-attr]

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


DEFAULT_OPTIONS = AnalysisOptions()
