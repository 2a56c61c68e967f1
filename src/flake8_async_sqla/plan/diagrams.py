"""The current and the target architecture as Mermaid flowcharts: engines -> session factories -> session
providers -> routes, dependencies, services and background work, the legacy paths dashed and marked.

A node is legacy when it is sync, a scoped or module-level session, or has a finding of phases 1-4 to
fix at its line; an edge when its source is legacy or a touchpoint it stands for has such a finding.
Functions are drawn per module and kind; past `MOST_NODES` nodes, modules are merged into their folders
(then the folders' folders) so that a large application's picture stays readable."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from flake8_async_sqla.core import names
from flake8_async_sqla.core.rule import ADVISORY
from flake8_async_sqla.plan.skeleton import target_names

if TYPE_CHECKING:
    from flake8_async_sqla.plan.builder import Plan, PlanFinding
    from flake8_async_sqla.plan.survey import FileSurvey, SessionOrigin

MOST_NODES = 40
NAMES_SHOWN = 3  # function names listed in a node before "+N more"
# Layers, left to right, each a subgraph.
LAYERS = {
    "lifespan": "Lifespan",
    "engine": "Engines",
    "factory": "Session factories",
    "provider": "Session dependencies",
    "route": "Routes",
    "dependency": "Dependencies",
    "service": "Services",
    "background": "Background work",
}
FUNCTION_KINDS = ("route", "dependency", "service", "background")
LEGACY_SOURCES = ("global session", "kept by other code")
LEGACY_STYLE = "classDef legacy stroke:#b71c1c,stroke-width:2px,stroke-dasharray:5 3,color:#b71c1c"


@dataclass
class Node:
    kind: str
    path: str
    title: str
    detail: str = ""
    legacy: bool = False
    functions: list[str] = field(default_factory=list)  # for functions drawn per module


@dataclass
class Graph:
    nodes: dict[str, Node] = field(default_factory=dict)  # by key
    edges: dict[tuple[str, str], bool] = field(default_factory=dict)  # (source key, target key) -> legacy

    def node(self, key: str, node: Node) -> str:
        known = self.nodes.setdefault(key, node)
        known.legacy = known.legacy or node.legacy
        for function in node.functions:
            if function not in known.functions:
                known.functions.append(function)
        return key

    def edge(self, source: str | None, target: str, legacy: bool = False) -> None:
        if source is None or source not in self.nodes or source == target:
            return
        self.edges[(source, target)] = self.edges.get((source, target), False) or legacy or self.nodes[source].legacy


# ------------------------------------------------------------------ the current architecture
def current(surveys: list[FileSurvey], findings: list[PlanFinding], plan: Plan) -> str:
    flagged = {(f.path, f.line) for f in findings if f.phase != ADVISORY}
    graph = Graph()
    engine_nodes: dict[str, str] = {}  # engine key -> node key
    for item in surveys:
        keys = {site: key for key, site in item.engine_keys}
        for engine in item.engines:
            node = graph.node(
                f"engine:{engine.site}",
                Node("engine", engine.site.path, engine.name, f"{engine.factory} · {engine.site}",
                     names.ENGINE_FACTORIES.get(engine.factory) == "sync" or (engine.site.path, engine.site.line) in flagged),
            )
            if engine in keys:
                engine_nodes[keys[engine]] = node
    factory_nodes: dict[str, str] = {}  # factory key -> node key
    for item in surveys:
        for factory in item.factories:
            if not factory.name.isidentifier() and any(f.site == factory.site and f is not factory for f in item.factories):
                continue  # the sessionmaker inside `scoped_session(sessionmaker(...))`
            node = graph.node(
                f"factory:{factory.site}:{factory.name}",
                Node("factory", factory.site.path, factory.name, f"{factory.kind} · {factory.site}",
                     factory.kind != "async_sessionmaker" or (factory.site.path, factory.site.line) in flagged),
            )
            factory_nodes[f"{item.module}.{factory.name}"] = node
    for item in surveys:
        for factory_key, engine_key in item.factory_engines:
            target = _factory_node(factory_nodes, factory_key)
            if target is not None:
                graph.edge(engine_nodes.get(engine_key), target)

    provider_nodes: dict[str, str] = {}  # provider qualname -> node key
    for item in surveys:
        yielding = {name for _, name in item.session_dependencies}
        for qualname in sorted(item.session_providers):
            name = qualname.rpartition(".")[2]
            provider_nodes[qualname] = graph.node(
                f"provider:{qualname}",
                Node("provider", item.path, f"{name}()", f"{'yield dependency' if name in yielding else 'returns a session'} · {item.path}",
                     name not in yielding),
            )

    def origin_node(origin: SessionOrigin | None) -> str | None:
        if origin is None:
            return None
        if origin.kind == "factory":
            return _factory_node(factory_nodes, origin.key)
        return (engine_nodes if origin.kind == "engine" else provider_nodes).get(origin.key)

    for item in surveys:
        for qualname, origin in sorted(item.session_providers.items(), key=lambda pair: pair[0]):
            graph.edge(origin_node(origin), provider_nodes[qualname])
    for item in surveys:
        routes = {name for _, name in item.routes}
        providers = {q.rpartition(".")[2] for q in item.session_providers}
        for touchpoint, origin in zip(item.touchpoints, item.touchpoint_origins):
            if touchpoint.function in providers:
                continue
            kind = _function_kind(touchpoint.function, routes, touchpoint.session_source)
            legacy = (touchpoint.site.path, touchpoint.site.line) in flagged or touchpoint.session_source.startswith(LEGACY_SOURCES)
            node = graph.node(f"{kind}:{item.path}", Node(kind, item.path, item.path, functions=[touchpoint.function]))
            graph.edge(origin_node(origin), node, legacy)
        if item.background:
            uses = sorted({what.partition(" `")[0] for _, what in item.background})  # the kind, not each task's name
            graph.node(f"tasks:{item.path}", Node("background", item.path, item.path, ", ".join(uses)))
    return _flowchart(_aggregated(graph))


def _function_kind(function: str, routes: set[str], session_source: str) -> str:
    if function in routes:
        return "route"
    if session_source.startswith("dependency"):
        return "dependency"
    if session_source == "factory call in this function":
        return "background"  # a job, task or script that opens its own session
    return "service"


def _factory_node(factory_nodes: dict[str, str], key: str) -> str | None:
    """The factory a key names: drawn under `module.name`, keyed by `module.name`, `module.function.name`
    or `module.name.attribute`-less spellings of the same assignment."""
    if key in factory_nodes:
        return factory_nodes[key]
    module, _, name = key.rpartition(".")
    found = sorted(k for k in factory_nodes if k.rpartition(".")[2] == name and module.startswith(k.rpartition(".")[0] + "."))
    return factory_nodes[found[0]] if len(found) == 1 else None


# ------------------------------------------------------------------ the target architecture
def pictures(surveys: list[FileSurvey], findings: list[PlanFinding], plan: Plan) -> tuple[str, str]:
    """The current and the target architecture, as Mermaid flowcharts."""
    return current(surveys, findings, plan), target(surveys, *target_names(surveys, plan))


def target(surveys: list[FileSurvey], engine_name: str, factory_name: str, dependency: str) -> str:
    """The skeleton's architecture, with the app's functions that touch the database where they get
    their session: routes and dependencies from the request's dependency, services from their caller,
    background work from the factory."""
    graph = Graph()
    lifespan = graph.node("lifespan", Node("lifespan", "", "lifespan", "AsyncExitStack: create, then dispose"))
    engine = graph.node("engine", Node("engine", "", engine_name, "create_async_engine, one per process"))
    factory = graph.node("factory", Node("factory", "", f"app.state.{factory_name}", "async_sessionmaker(expire_on_commit=False)"))
    provider = graph.node("provider", Node("provider", "", f"{dependency}()", "yield dependency: one AsyncSession per request"))
    graph.edge(lifespan, engine)
    graph.edge(engine, factory)
    graph.edge(factory, provider)
    for item in surveys:
        routes = {name for _, name in item.routes}
        providers = {q.rpartition(".")[2] for q in item.session_providers}
        for touchpoint in item.touchpoints:
            if touchpoint.function in providers:
                continue
            kind = _function_kind(touchpoint.function, routes, touchpoint.session_source)
            node = graph.node(f"{kind}:{item.path}", Node(kind, item.path, item.path, functions=[touchpoint.function]))
            graph.edge({"background": factory, "service": None}.get(kind, provider), node)
        if item.background:
            graph.node(f"tasks:{item.path}", Node("background", item.path, item.path, "own session from the factory"))
            graph.edge(factory, f"tasks:{item.path}")
    services = [key for key, node in graph.nodes.items() if node.kind == "service"]
    callers = [key for key, node in graph.nodes.items() if node.kind in ("route", "dependency")]
    for service in services:  # a service takes the caller's session: drawn once, from the request's dependency
        graph.edge(provider if callers else factory, service)
    return _flowchart(_aggregated(graph))


# ------------------------------------------------------------------ size and text
def _aggregated(graph: Graph) -> Graph:
    """Merges the function nodes of modules into their folders, one level at a time, until the graph has
    at most MOST_NODES nodes; then, if it must, the engines, factories and providers too."""
    for kinds in (FUNCTION_KINDS, tuple(LAYERS)):
        depth = max((len(PurePosixPath(n.path).parts) for n in graph.nodes.values()), default=0)
        while len(graph.nodes) > MOST_NODES and depth > 0:
            depth -= 1
            graph = _merged(graph, depth, kinds)
    return graph


def _merged(graph: Graph, depth: int, kinds: tuple[str, ...]) -> Graph:
    """The nodes of `kinds` deeper than `depth` folders merged into one node per kind and folder."""
    merged = Graph()
    renamed: dict[str, str] = {}
    for key, node in sorted(graph.nodes.items()):
        parts = PurePosixPath(node.path).parts
        if node.kind not in kinds or len(parts) <= depth:
            renamed[key] = merged.node(key, node)
            continue
        folder = "/".join(parts[:depth])
        members = node.functions if node.kind in FUNCTION_KINDS or node.detail.isdigit() else [node.title]
        count = int(node.detail) if node.detail.isdigit() else max(len(members), 1)
        title = f"{folder}/" if folder else "the whole project"
        renamed[key] = merged.node(f"{node.kind}:{folder}/", Node(node.kind, folder, title, "0", node.legacy, list(members)))
        merged.nodes[renamed[key]].detail = str(int(merged.nodes[renamed[key]].detail) + count)
    for (source, target_), legacy in sorted(graph.edges.items()):
        if renamed[source] != renamed[target_]:
            pair = (renamed[source], renamed[target_])
            merged.edges[pair] = merged.edges.get(pair, False) or legacy
    return merged


def _flowchart(graph: Graph) -> str:
    lines = ["flowchart LR"] + ([f"  {LEGACY_STYLE}"] if any(n.legacy for n in graph.nodes.values()) else [])
    ids = {key: f"n{number}" for number, key in enumerate(sorted(graph.nodes, key=lambda k: _order(graph.nodes[k], k)), 1)}
    by_layer: dict[str, list[str]] = defaultdict(list)
    for key in sorted(graph.nodes, key=lambda k: _order(graph.nodes[k], k)):
        by_layer[graph.nodes[key].kind].append(key)
    for kind, title in LAYERS.items():
        if not by_layer[kind]:
            continue
        lines.append(f'  subgraph layer_{kind}["{title}"]')
        for key in by_layer[kind]:
            node = graph.nodes[key]
            lines.append(f'    {ids[key]}["{_label(node)}"]' + (":::legacy" if node.legacy else ""))
        lines.append("  end")
    for (source, target_), legacy in sorted(graph.edges.items(), key=lambda e: (int(ids[e[0][0]][1:]), int(ids[e[0][1]][1:]))):
        lines.append(f"  {ids[source]} {'-.->' if legacy else '-->'} {ids[target_]}")
    return "\n".join(lines) + "\n"


def _order(node: Node, key: str) -> tuple[int, str, str]:
    return (list(LAYERS).index(node.kind), node.path, key)


def _label(node: Node) -> str:
    if node.functions and node.kind in FUNCTION_KINDS or node.detail.isdigit():
        shown = sorted(node.functions)
        listed = ", ".join(shown[:NAMES_SHOWN]) + (f" +{len(shown) - NAMES_SHOWN} more" if len(shown) > NAMES_SHOWN else "")
        count = int(node.detail) if node.detail.isdigit() else len(shown)
        parts = [node.title, f"{count} {_plural(node.kind, count)}: {listed}"]
    else:
        parts = [node.title, node.detail] if node.detail else [node.title]
    return "<br/>".join(_escaped(part) for part in parts)


def _plural(kind: str, count: int) -> str:
    word = {"engine": "engine", "factory": "factory", "provider": "provider"}.get(kind, "function")
    return word if count == 1 else ("factories" if word == "factory" else word + "s")


def _escaped(text: str) -> str:
    """Text safe inside a quoted Mermaid label: the characters its grammar or HTML labels give meaning to,
    as entity codes."""
    for character, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("`", "#96;"), ("\n", " ")):
        text = text.replace(character, code)
    return text
