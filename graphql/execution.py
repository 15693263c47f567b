"""Execution of plain objects without graphql-core's per-field machinery.

A case list page is ~300 fields, and nearly all of them are *plain*: read from an
attribute, no resolver, no arguments, no field extension — a scalar, a list of
scalars, or another object (or list of objects) whose selected fields are plain in
turn.  For each such field graphql-core still builds a path, a resolve info and a
resolver call, and walks ``complete_value`` (~35% of a request, by the profile in
docs/benchmarks.md).  When every field an object's selection asks for is plain, this
executor completes the object in one loop: the attribute, then the type's own
``coerce_output_value`` — exactly what graphql-core would compute.

Anything unusual (a null in a non-null field, a value the scalar refuses, a
non-list where a list is due, an exception) falls back to graphql-core for the
whole object, which then answers it exactly as always (errors, paths, nulls).  So do
objects with any non-plain field, types with ``is_type_of``, selections with
``@defer``, and every schema with a resolve-hooking extension (its hooks must see
every field).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from graphql import (
    GRAPHQL_MAX_INT,
    GRAPHQL_MIN_INT,
    GraphQLBoolean,
    GraphQLID,
    GraphQLInt,
    GraphQLObjectType,
    GraphQLString,
    Undefined,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
)
from yorisoi.infra.outages import unavailable

# What to do with one field: (response name, attribute, kind, non-null, detail, item non-null).
# kind LEAF: detail is the scalar (_leaf); LEAVES: a list, detail the items' scalar;
# OBJECT / OBJECTS: detail is (object type, the field's details for its subfields).
LEAF, LEAVES, OBJECT, OBJECTS, TYPENAME = range(5)
FieldPlan = tuple[str, str, int, bool, Any, bool]


# Values the built-in scalars return unchanged: a str for String and ID, a bool for
# Boolean, an int within 32 bits for Int (graphql-core's serialize_* functions).
_UNCHANGED = {GraphQLString: str, GraphQLID: str, GraphQLBoolean: bool, GraphQLInt: int}


class _Fallback(Exception):
    """This value needs graphql-core's own completion."""


class _NotPlain(_Fallback):
    """A selection below is not plain: it never will be, for this document."""


def _unwrapped(kind: Any) -> tuple[Any, bool]:
    return (kind.of_type, True) if is_non_null_type(kind) else (kind, False)


def _field_plan(parent_type: GraphQLObjectType, response_name: str,
                details: Any) -> FieldPlan | None:
    node = details[0].node
    name = node.name.value
    if name == "__typename":
        return (response_name, "", TYPENAME, True, parent_type.name, False)
    field_def = parent_type.fields.get(name)
    if field_def is None or node.arguments or field_def.args or node.directives:
        return None
    resolve = field_def.resolve
    # strawberry's resolver of a field without resolver, permission or extension.
    if resolve is None or not getattr(resolve, "_is_default", False):
        return None
    definition = (field_def.extensions or {}).get("strawberry-definition")
    if definition is None or definition.default_resolver is not getattr:
        return None
    attribute = definition.python_name
    kind, non_null = _unwrapped(field_def.type)
    if is_leaf_type(kind):
        return (response_name, attribute, LEAF, non_null, _leaf(kind), False)
    if is_object_type(kind) and kind.is_type_of is None:
        return (response_name, attribute, OBJECT, non_null, (kind, details), False)
    if is_list_type(kind):
        item, item_non_null = _unwrapped(kind.of_type)
        if is_leaf_type(item):
            return (response_name, attribute, LEAVES, non_null, _leaf(item), item_non_null)
        if is_object_type(item) and item.is_type_of is None:
            return (response_name, attribute, OBJECTS, non_null, (item, details),
                    item_non_null)
    return None


def object_plan(parent_type: GraphQLObjectType,
                grouped_field_set: Any) -> tuple[FieldPlan, ...] | None:
    """The plan of a selection whose fields are all plain, else None."""
    plan = []
    for response_name, details in grouped_field_set.items():
        field = _field_plan(parent_type, response_name, details)
        if field is None:
            return None
        plan.append(field)
    return tuple(plan)


def _leaf(kind: Any) -> tuple[Callable[[Any], Any], type | None]:
    """The scalar's coercion, and the type of values it returns unchanged (if any)."""
    return kind.coerce_output_value, _UNCHANGED.get(kind)


def _scalar(leaf: tuple[Callable[[Any], Any], type | None], value: Any) -> Any:
    coerce, unchanged = leaf
    if type(value) is unchanged and (unchanged is not int
                                     or GRAPHQL_MIN_INT <= value <= GRAPHQL_MAX_INT):
        return value
    return _coerced(coerce, value)


def _coerced(coerce: Callable[[Any], Any], value: Any) -> Any:
    if isinstance(value, Exception):
        raise _Fallback
    result = coerce(value)
    if result is None or result is Undefined:
        raise _Fallback
    return result


class PlainFieldsExecutor(StrawberryGraphQLCoreExecutionContext):
    """strawberry's executor, completing objects of plain fields in one loop."""

    def execute_fields(self, parent_type: GraphQLObjectType, source_value: Any, path: Any,
                       grouped_field_set: Any, position_context: Any) -> Any:
        if position_context is None and not self._resolve_hooks():
            plan = self._plan(parent_type, grouped_field_set)
            if plan is not None:
                try:
                    return self.complete_plain(plan, source_value)
                except _NotPlain:
                    self._plans[id(grouped_field_set)] = (grouped_field_set, parent_type, None)
                except Exception:  # noqa: BLE001, S110 - graphql-core answers it, errors and all
                    pass
        return super().execute_fields(parent_type, source_value, path, grouped_field_set,
                                      position_context)

    def handle_field_error(self, raw_error: Exception, return_type: Any,
                           field_details_list: Any, path: Any) -> None:
        # An outage met by a resolver (the database, the key provider, object storage)
        # is answered as ``service_unavailable`` (retryable), never as a masked bug;
        # the HTTP middleware makes the response a 503 with Retry-After (the error,
        # made, notes itself: infra/outages.note).
        down = unavailable(raw_error)
        if down is not None:
            from yorisoi.graphql.errors import service_unavailable

            raw_error = service_unavailable(down)
        super().handle_field_error(raw_error, return_type, field_details_list, path)

    def _resolve_hooks(self) -> bool:
        manager = self.middleware_manager
        return bool(manager is not None and manager.middlewares)

    @property
    def _plans(self) -> dict[int, tuple[Any, Any, tuple[FieldPlan, ...] | None]]:
        return self.__dict__.setdefault("_plain_plans", {})

    def _plan(self, parent_type: GraphQLObjectType,
              grouped_field_set: Any) -> tuple[FieldPlan, ...] | None:
        # graphql-core collects a list's items' subfields once (memoized on the field
        # nodes), so the 20 nodes of a page share one grouped field set, and one plan.
        plans = self._plans
        known = plans.get(id(grouped_field_set))
        if known is not None and known[0] is grouped_field_set and known[1] is parent_type:
            return known[2]
        plan = object_plan(parent_type, grouped_field_set)
        plans[id(grouped_field_set)] = (grouped_field_set, parent_type, plan)
        return plan

    def _subplan(self, object_type: GraphQLObjectType, details: Any) -> tuple[FieldPlan, ...]:
        grouped_field_set, new_defer_usages, _forbidden = self.collect_subfields(
            object_type, details)
        plan = None if new_defer_usages else self._plan(object_type, grouped_field_set)
        if plan is None:
            raise _NotPlain
        return plan

    def complete_plain(self, plan: tuple[FieldPlan, ...], source: Any) -> dict[str, Any]:
        """The object's result; _Fallback when graphql-core must answer instead."""
        results: dict[str, Any] = {}
        for response_name, attribute, kind, non_null, detail, item_non_null in plan:
            if kind == TYPENAME:
                results[response_name] = detail
                continue
            value = getattr(source, attribute)
            if value is None or value is Undefined:
                if non_null:
                    raise _Fallback
                results[response_name] = None
            elif kind == LEAF:
                results[response_name] = _scalar(detail, value)
            elif isinstance(value, Exception):
                raise _Fallback
            elif kind == OBJECT:
                results[response_name] = self.complete_plain(self._subplan(*detail), value)
            elif not isinstance(value, list):
                raise _Fallback  # graphql-core's rules for other iterables apply
            elif kind == LEAVES:
                results[response_name] = [self._item(detail, item, item_non_null)
                                          for item in value]
            else:
                subplan = self._subplan(*detail)
                results[response_name] = [
                    self._object_item(subplan, item, item_non_null) for item in value]
        return results

    @staticmethod
    def _item(leaf: tuple[Callable[[Any], Any], type | None], item: Any, non_null: bool) -> Any:
        if item is None:
            if non_null:
                raise _Fallback
            return None
        return _scalar(leaf, item)

    def _object_item(self, plan: tuple[FieldPlan, ...], item: Any, non_null: bool) -> Any:
        if item is None:
            if non_null:
                raise _Fallback
            return None
        if isinstance(item, Exception):
            raise _Fallback
        return self.complete_plain(plan, item)
