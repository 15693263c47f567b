"""Objects of plain fields are completed in one loop, with graphql-core's results and errors.

``PlainFieldsExecutor`` (graphql/execution.py) must answer every document exactly as
strawberry's own executor does: the same data, the same errors at the same paths,
the same nulls; and it must actually take its shortcut where it can.
"""

from __future__ import annotations

import enum
from typing import Any

import pytest
import strawberry
from strawberry.extensions import SchemaExtension

from yorisoi.graphql.execution import PlainFieldsExecutor
from yorisoi.graphql.schema import build_schema


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Item:
    id: strawberry.ID
    name: str
    count: int
    ratio: float | None
    tags: list[str]
    maybe_tags: list[str | None] | None
    colour: Colour
    flag: bool = False

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()


def items() -> list[Item]:
    good = Item(id=strawberry.ID("1"), name="a", count=1, ratio=None, tags=["x", "y"],
                maybe_tags=[None, "z"], colour=Colour.RED, flag=True)
    return [good,
            Item(id=strawberry.ID("2"), name="b", count=2, ratio=0.5, tags=[], maybe_tags=None,
                 colour=Colour.BLUE),
            # Broken ones: graphql-core decides what becomes of them.
            Item(id=strawberry.ID("3"), name=None, count=3, ratio=None, tags=[],  # type: ignore[arg-type]
                 maybe_tags=None, colour=Colour.RED),
            Item(id=strawberry.ID("4"), name="d", count=2**40, ratio=None, tags=[],
                 maybe_tags=None, colour=Colour.RED),
            Item(id=strawberry.ID("5"), name="e", count=5, ratio=None, tags=["ok", None],  # type: ignore[list-item]
                 maybe_tags=None, colour=Colour.RED),
            Item(id=strawberry.ID("6"), name="f", count=6, ratio=None, tags="not a list",  # type: ignore[arg-type]
                 maybe_tags=None, colour="purple"),  # type: ignore[arg-type]
            # Values of other types that the scalars convert: a bool as Int, an int as ID
            # and as Boolean, a str subclass as String.
            Item(id=7, name=Label("g"), count=True, ratio=1, tags=[Label("t")],  # type: ignore[arg-type]
                 maybe_tags=None, colour=Colour.BLUE, flag=1)]  # type: ignore[arg-type]


class Label(str):
    """A str subclass (not the exact type the shortcut passes through)."""


@strawberry.type
class Edge:
    cursor: str
    node: Item


@strawberry.type
class Page:
    total: int
    edges: list[Edge]
    first: Edge | None
    maybe: list[Edge | None] | None = None


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item | None]:
        return items()

    @strawberry.field
    def page(self, broken: bool = False) -> Page | None:
        nodes = items() if broken else items()[:2]
        edges = [Edge(cursor=str(i), node=n) for i, n in enumerate(nodes)]
        return Page(total=len(edges), edges=edges, first=edges[0], maybe=[None, *edges])

    @strawberry.field
    def first(self) -> Item:
        return items()[0]


DOCUMENTS = [
    "{ items { id name count ratio tags maybeTags colour flag } }",
    "{ items { __typename id alias: name count } }",
    "{ items { id shout } }",  # a resolver: the whole object goes the usual way
    "{ first { id name tags colour } }",
    "query($yes: Boolean!) { first { id name @include(if: $yes) count @skip(if: $yes) } }",
    "{ first { ...F } } fragment F on Item { id name tags }",
    "{ items { name } first { count } }",
    "{ page { total edges { cursor node { id name tags } } first { node { id } } } }",
    "{ page { total maybe { cursor node { __typename id } } } }",
    "{ page(broken: true) { total edges { cursor node { id name count tags colour } } } }",
    "{ page(broken: true) { total maybe { node { id name } } } }",
    "{ page { edges { node { id shout } } } }",
]


def result(schema: strawberry.Schema, document: str) -> tuple[Any, Any]:
    answer = schema.execute_sync(document, variable_values={"yes": True})
    return answer.data, [(e.message, e.path) for e in answer.errors or []]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_answers_equal_strawberrys_own_executor(document):
    ours = strawberry.Schema(query=Query, execution_context_class=PlainFieldsExecutor)
    theirs = strawberry.Schema(query=Query)
    assert result(ours, document) == result(theirs, document)


def test_the_shortcut_is_taken_for_plain_objects(monkeypatch):
    completed: list[dict[str, Any]] = []
    original = PlainFieldsExecutor.complete_plain

    def spy(self: Any, plan: Any, source: Any) -> dict[str, Any]:
        completed.append(answer := original(self, plan, source))
        return answer

    monkeypatch.setattr(PlainFieldsExecutor, "complete_plain", spy)
    schema = strawberry.Schema(query=Query, execution_context_class=PlainFieldsExecutor)
    data, errors = result(schema, "{ items { id flag } }")
    assert errors == []
    assert completed == data["items"]  # all six, in one loop each

    # A broken object is left to graphql-core (its error), the others still go the short way.
    completed.clear()
    data, errors = result(schema, "{ items { id name } }")
    assert [path for _, path in errors] == [["items", 2, "name"]]
    assert completed == [item for item in data["items"] if item is not None]

    completed.clear()
    result(schema, "{ items { id shout } }")
    assert completed == []

    # A whole page (connection, edges, nodes) in one call.
    completed.clear()
    data, errors = result(schema, "{ page { total edges { cursor node { id } } } }")
    assert errors == [] and completed[-1] == data["page"]  # the innermost first


def test_resolve_hooks_of_extensions_see_every_field():
    seen: list[str] = []

    class Watch(SchemaExtension):
        def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
            seen.append(info.field_name)
            return _next(root, info, *args, **kwargs)

    schema = strawberry.Schema(query=Query, extensions=[Watch],
                               execution_context_class=PlainFieldsExecutor)
    result(schema, "{ first { id name } }")
    assert seen == ["first", "id", "name"]


def test_the_products_schema_uses_it():
    assert build_schema(production=False).execution_context_class is PlainFieldsExecutor
