"""Keyset cursors and the one connection shape of the list queries.

A cursor is the JSON list of the last row's sort key, so the next page starts
strictly after it whatever was added or removed meanwhile.  A cursor that does
not decode to a key of the expected shape raises ``CursorInvalidError`` (the
typed ``cursor_invalid`` error), never a 500.

Every connection answers the same shape: ``totalCount``, Relay ``edges {
cursor node }``, the bare ``nodes`` (for clients that need no per-row cursor)
and ``pageInfo``.  ``Connection[X]`` is that shape for a node type ``X``
(strawberry names it ``XConnection`` with edges ``XEdge``); the older
hand-written connections that carry extra fields gain ``nodes`` through
``nodes_of_edges()``.  A page size outside 1..100 is the typed
``page_size_invalid`` error on every list field, never silently clamped.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import strawberry

from yorisoi.graphql.cases import PageInfo
from yorisoi.graphql.errors import ApiError
from yorisoi.projections.case_queries import CursorInvalidError

MAX_PAGE = 100
T = TypeVar("T")
N = TypeVar("N")

_NODES_DESCRIPTION = "The page's nodes in order: the edges' nodes, without their cursors."


class PageSizeInvalidError(ApiError):
    """``first`` outside 1..limit: a typed error, not a silently different page."""

    code = "page_size_invalid"

    def __init__(self, limit: int = MAX_PAGE) -> None:
        super().__init__(self.code, f"first must be between 1 and {limit}.",
                         f"first は1〜{limit}の範囲で指定してください。")


def page_size(first: int, limit: int = MAX_PAGE) -> int:
    """``first`` as asked, or the typed ``page_size_invalid`` error (checked before anything else).

    Raised as an ``ApiError`` so it needs no mapping: inside or outside a
    query's ``read`` it reaches the client with its code and Japanese message.
    ``limit`` is 100 for every list but one worklist that always allowed more.
    """
    if not 1 <= first <= limit:
        raise PageSizeInvalidError(limit)
    return first


# The old name: callers that clamped now get the typed error instead of another page size.
clamp = page_size


@strawberry.type
class Edge(Generic[N]):
    cursor: str
    node: N


@strawberry.type
class Connection(Generic[N]):
    total_count: int
    edges: list[Edge[N]]
    page_info: PageInfo

    @strawberry.field(description=_NODES_DESCRIPTION)
    def nodes(self) -> list[N]:
        return [edge.node for edge in self.edges]


def nodes_of_edges() -> Any:
    """The ``nodes`` field of a hand-written connection: its edges' nodes (typed by the annotation)."""

    def nodes(root: Any) -> Any:
        return [edge.node for edge in root.edges]

    return strawberry.field(resolver=nodes, description=_NODES_DESCRIPTION)


def connection(rows: Sequence[T], *, first: int, total_count: int, key: Callable[[T], Sequence[Any]],
               node: Callable[[T], N]) -> Connection[N]:
    """A page of ``rows`` (fetched with one row beyond ``first``) as a connection."""
    return connection_of(rows[:first], has_next_page=len(rows) > first, total_count=total_count,
                         key=key, node=node)


def connection_of(page: Sequence[T], *, has_next_page: bool, total_count: int,
                  key: Callable[[T], Sequence[Any]], node: Callable[[T], N]) -> Connection[N]:
    """One page as a connection: each edge's cursor encodes its row's sort ``key``.

    Any edge's cursor can be passed as ``after``; the end cursor is the last edge's.
    """
    edges = [Edge(cursor=encode(key(r)), node=node(r)) for r in page]
    return Connection(total_count=total_count, edges=edges,
                      page_info=PageInfo(has_next_page=has_next_page,
                                         end_cursor=edges[-1].cursor if edges else None))


def sorted_connection(items: list[T], key: Callable[[T], tuple[Any, ...]], *, first: int,
                      after: str | None, types: tuple[type, ...],
                      node: Callable[[T], N]) -> Connection[N]:
    """``items`` (all that match) paged in memory by ``page_sorted`` as a connection."""
    page, more, _ = page_sorted(items, key, first=first, after=after, types=types)
    return connection_of(page, has_next_page=more, total_count=len(items), key=key, node=node)


def encode(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def decode(cursor: str | None, *types: type) -> list[Any] | None:
    """The sort key in ``cursor`` (None for the first page), checked against ``types``."""
    if cursor is None:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if (not isinstance(key, list) or len(key) != len(types)
                or not all(isinstance(v, t) and not isinstance(v, bool)
                           for v, t in zip(key, types, strict=True))):
            raise TypeError
    except (ValueError, TypeError):
        raise CursorInvalidError from None
    return key


def page_sorted(items: list[T], key: Callable[[T], tuple[Any, ...]], *, first: int,
                after: str | None, types: tuple[type, ...]) -> tuple[list[T], bool, str | None]:
    """Page an in-memory list by the same cursor rule as SQL: sort by ``key``, keep those after.

    Returns the page, whether more follow, and the page's end cursor.
    """
    start = decode(after, *types)
    ordered = sorted(items, key=key)
    if start is not None:
        ordered = [i for i in ordered if key(i) > tuple(start)]
    page = ordered[:first]
    return page, len(ordered) > first, encode(key(page[-1])) if page else None
