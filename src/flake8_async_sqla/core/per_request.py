"""Facts about code that runs per request, shared by the rules that flag work redone on every request."""

from __future__ import annotations

from flake8_async_sqla.core.model import Scope, SemanticModel


def local_name(model: SemanticModel, scope: Scope) -> str:
    """`Service.method` / `handler.helper`: the qualified name without the module."""
    return scope.qualname.removeprefix(model.module + ".")


def how_reached(model: SemanticModel, function: Scope, root: Scope) -> str:
    """The message phrase for where per-request work sits: in the handler, or in what it calls."""
    role = "route handler" if model.is_route_handler(root) else "dependency"
    if function is root:
        return f"in {role} `{local_name(model, root)}`"
    return f"in `{local_name(model, function)}`, called from {role} `{local_name(model, root)}`"
