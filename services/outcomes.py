"""A command's answer as JSON and back, so that a repeated request can be answered again.

What a command hands back — ids, versions, the typed answer objects of the
API (dataclasses: strawberry types are dataclasses), aggregates — is turned
into plain JSON with a marker for each kind that JSON lacks, and decoded into
the same objects.  An aggregate is kept as a reference (id and version) and
read again at that version, so nothing the event store already holds is
copied.  Only classes of this project (and the standard kinds below) are
ever rebuilt from a stored name.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

# Aggregate id, version → the aggregate as it was then.
LoadAggregate = Callable[[UUID, int], Any]


_ABSENT = object()


class NotReplayableError(TypeError):
    """The answer holds a kind of value this codec does not keep."""


def _name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _class(name: str) -> type:
    module, _, qualname = name.partition(":")
    if not module.startswith("yorisoi."):
        raise NotReplayableError("only the project's own classes are rebuilt")
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    if not isinstance(found, type):
        raise NotReplayableError("not a class")
    return found


def encode(value: Any) -> Any:
    """``value`` as JSON-able data (raises NotReplayableError for what it cannot keep)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, enum.Enum):
        return {"~e": _name(type(value)), "v": encode(value.value)}
    if isinstance(value, str):
        return str(value)  # strawberry.ID and other str kinds read back as str
    if isinstance(value, UUID):
        return {"~u": str(value)}
    if isinstance(value, datetime):
        return {"~t": value.isoformat()}
    if isinstance(value, date):
        return {"~d": value.isoformat()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [encode(v) for v in value]
        return items if isinstance(value, list) else {"~l": items, "k": type(value).__name__}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise NotReplayableError("dict keys must be text")
        return {"~m": {k: encode(v) for k, v in value.items()}}
    if isinstance(value, Aggregate):
        return {"~a": str(value.id), "v": value.version}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # Fields answered by a resolver (a method: strawberry's computed fields) are
        # not data: they are resolved again when the answer is shown again.
        return {"~c": _name(type(value)),
                "f": {f.name: encode(v) for f in dataclasses.fields(value)
                      if not callable(v := getattr(value, f.name, _ABSENT)) and v is not _ABSENT}}
    raise NotReplayableError(type(value).__name__)


_COLLECTIONS: dict[str, Callable[[list[Any]], Any]] = {
    "tuple": tuple, "set": set, "frozenset": frozenset}


def decode(data: Any, load: LoadAggregate) -> Any:
    """The value ``encode`` kept (aggregates read again through ``load``)."""
    if not isinstance(data, dict | list):
        return data
    if isinstance(data, list):
        return [decode(v, load) for v in data]
    if "~u" in data:
        return UUID(data["~u"])
    if "~t" in data:
        return datetime.fromisoformat(data["~t"])
    if "~d" in data:
        return date.fromisoformat(data["~d"])
    if "~l" in data:
        return _COLLECTIONS[data["k"]](decode(v, load) for v in data["~l"])
    if "~m" in data:
        return {k: decode(v, load) for k, v in data["~m"].items()}
    if "~e" in data:
        return _class(data["~e"])(decode(data["v"], load))
    if "~a" in data:
        return load(UUID(data["~a"]), int(data["v"]))
    if "~c" in data:
        cls = _class(data["~c"])
        values = {k: decode(v, load) for k, v in data["f"].items()}
        fields = {f.name: f for f in dataclasses.fields(cls)}
        made = cls(**{k: v for k, v in values.items() if k in fields and fields[k].init})
        for k, v in values.items():  # fields set after construction
            if k in fields and not fields[k].init:
                object.__setattr__(made, k, v)
        return made
    raise NotReplayableError("unknown stored kind")
