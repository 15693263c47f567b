"""The resource directory's read model and its search, the same SQL on SQLite and PostgreSQL.

Japanese search without a full-text engine: neither SQLite's FTS tokenisers
nor PostgreSQL's text search split Japanese into words, and the project runs
both backends.  So each row keeps ``search_text``, a normalised copy of its
name, subkind, content, address and reading (NFKC, so full- and half-width letters,
digits and kana fold together; lowercase; katakana folded to hiragana, so
ヒマワリ finds ひまわり; whitespace removed, so 「ひまわり 保育園」 finds
「ひまわり保育園」), and each normalised query term must appear in it
(``LIKE '%term%'`` with ``%`` and ``_`` escaped).  A municipality's directory
has hundreds of entries, not millions: a scan is fine.

Order is by the normalised name, then municipality and id (keyset pages).
PostgreSQL compares text by the database's collation, Python by code point;
``COLLATE "C"`` makes them agree so pages merged across neighbours line up.
"""

from __future__ import annotations

import base64
import json
import unicodedata
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Notification

from yorisoi.domain.resources import SUBKINDS, WEEKDAYS, Resource
from yorisoi.infra.db import Cursor, Database
from yorisoi.projections.case_queries import CursorInvalidError

RESOURCE_TABLES = ("resource_view",)
_FIELD_SEPARATOR = "\x1f"  # whitespace to str.split, so no query term contains it


def normalise(text: str | None) -> str:
    """Fold text for matching: NFKC, lowercase, katakana → hiragana, no whitespace."""
    folded = unicodedata.normalize("NFKC", text or "").lower()
    chars = []
    for ch in folded:
        code = ord(ch)
        if 0x30A1 <= code <= 0x30F6 or 0x30FD <= code <= 0x30FE:
            ch = chr(code - 0x60)
        chars.append(ch)
    return "".join("".join(chars).split())


def query_terms(query: str | None) -> list[str]:
    """The normalised terms of a query (split on any width of space)."""
    return [t for t in (normalise(part) for part in
                        unicodedata.normalize("NFKC", query or "").split()) if t]


def _search_text(attributes: dict[str, Any]) -> str:
    subkind = attributes.get("subkind")
    label = SUBKINDS[str(attributes["kind"])].get(subkind, "") if subkind else ""
    # The reading last: it is also what ``ResourceRecord.reading`` shows (folded).
    parts = (attributes.get("name"), label, attributes.get("content"), attributes.get("address"),
             attributes.get("reading"))
    return _FIELD_SEPARATOR.join(normalise(p) for p in parts)


def _reading(search_text: str) -> str | None:
    """The entry's reading (in hiragana) from its search text; None when it has none."""
    parts = search_text.split(_FIELD_SEPARATOR)
    return parts[4] if len(parts) > 4 and parts[4] else None


def _open_days(hours: list[dict[str, str]]) -> str:
    days = {slot["day"] for slot in hours}
    return "".join("1" if day in days else "0" for day in WEEKDAYS)


# The event classes ``apply`` acts on (``handles``).
_HANDLED = (Resource.Registered, Resource.Updated, Resource.Verified, Resource.Published,
            Resource.Unpublished, Resource.ReferralProfileSet)


class ResourceDirectoryView:
    """Projection of Resource events into ``resource_view``."""

    name = "resources"
    tables = RESOURCE_TABLES

    def __init__(self, keyring: Any = None) -> None:
        # Nothing here is personal; the keyring is part of the view interface only.
        self.keyring = keyring

    @staticmethod
    def ddl() -> list[str]:
        return [
            ("CREATE TABLE IF NOT EXISTS {s}resource_view ("
             " resource_id TEXT PRIMARY KEY, municipality_code TEXT NOT NULL,"
             " kind TEXT NOT NULL, subkind TEXT, name TEXT NOT NULL, address TEXT NOT NULL,"
             " area TEXT NOT NULL, operator_kind TEXT NOT NULL, hours TEXT NOT NULL,"
             " open_days TEXT NOT NULL, monthly_schedule TEXT NOT NULL, content TEXT NOT NULL,"
             " form TEXT NOT NULL, fee TEXT NOT NULL, owner TEXT NOT NULL,"
             " last_verified_on TEXT NOT NULL, published BOOLEAN NOT NULL,"
             " search_text TEXT NOT NULL, name_key TEXT NOT NULL, version INTEGER NOT NULL,"
             " position BIGINT NOT NULL, referral_profile TEXT)"),
            ("CREATE INDEX IF NOT EXISTS resource_view_order"
             " ON {s}resource_view (published, name_key, resource_id)"),
        ]

    def reset(self, cur: Cursor) -> None:
        cur.execute("DELETE FROM {s}resource_view")

    def purge(self, cur: Cursor, household_id: str) -> None:
        """Nothing of a household: the directory lists agencies and resources."""

    @staticmethod
    def handles(event_cls: type) -> bool:
        return issubclass(event_cls, _HANDLED)

    def apply(self, cur: Cursor, event: Any, notification: Notification) -> None:
        if not isinstance(event, _HANDLED):
            return
        rid, n = str(event.originator_id), notification
        if isinstance(event, Resource.Registered):
            cur.execute("INSERT INTO {s}resource_view (resource_id, municipality_code, kind,"
                        " name, address, area, operator_kind, hours, open_days,"
                        " monthly_schedule, content, form, fee, owner, last_verified_on,"
                        " published, search_text, name_key, version, position) VALUES"
                        " (%s, %s, '', '', '', '', '', '[]', '', '', '', '', '', '', %s, %s,"
                        " '', '', %s, %s)",
                        (rid, event.municipality_code, event.registered_on.isoformat(), False,
                         n.originator_version, n.id))
            self._attributes(cur, rid, event.attributes)
        elif isinstance(event, Resource.Updated):
            self._attributes(cur, rid, event.attributes)
        elif isinstance(event, Resource.Verified):
            cur.execute("UPDATE {s}resource_view SET last_verified_on = %s WHERE resource_id = %s",
                        (event.verified_on.isoformat(), rid))
        elif isinstance(event, Resource.ReferralProfileSet):
            # An organisation's contact, not a family's: plaintext like the entry (staff only).
            cur.execute("UPDATE {s}resource_view SET referral_profile = %s WHERE resource_id = %s",
                        (json.dumps(event.profile, ensure_ascii=False), rid))
        else:
            cur.execute("UPDATE {s}resource_view SET published = %s WHERE resource_id = %s",
                        (isinstance(event, Resource.Published), rid))
        cur.execute("UPDATE {s}resource_view SET version = %s, position = %s"
                    " WHERE resource_id = %s", (n.originator_version, n.id, rid))

    @staticmethod
    def _attributes(cur: Cursor, rid: str, a: dict[str, Any]) -> None:
        cur.execute(
            "UPDATE {s}resource_view SET kind = %s, subkind = %s, name = %s, address = %s,"
            " area = %s, operator_kind = %s, hours = %s, open_days = %s,"
            " monthly_schedule = %s, content = %s, form = %s, fee = %s, owner = %s,"
            " search_text = %s, name_key = %s WHERE resource_id = %s",
            (a["kind"], a["subkind"], a["name"], a["address"], a["area"], a["operator_kind"],
             json.dumps(a["hours"], ensure_ascii=False), _open_days(a["hours"]),
             a["monthly_schedule"], a["content"], a["form"], a["fee"], a["owner"],
             _search_text(a), normalise(a["name"]), rid))


@dataclass(frozen=True)
class ResourceRecord:
    resource_id: str
    municipality_code: str
    kind: str
    subkind: str | None
    name: str
    address: str
    area: str
    operator_kind: str
    hours: list[dict[str, str]]
    monthly_schedule: str
    content: str
    form: str
    fee: str
    owner: str
    last_verified_on: str
    published: bool
    name_key: str
    version: int
    # How the entry receives referrals (staff only; never served to the public).
    referral_profile: dict[str, Any] | None = None
    reading: str | None = None  # the name's reading, folded to hiragana (search finds it)

    @property
    def sort_key(self) -> tuple[str, str, str]:
        return (self.name_key, self.municipality_code, self.resource_id)


@dataclass(frozen=True)
class ResourceFilters:
    """What a search asks for; ``published_only`` is forced on for the public."""

    query: str | None = None
    kind: str | None = None
    area: str | None = None
    day: str | None = None
    fee: str | None = None
    published_only: bool = True


def _record(row: dict[str, Any]) -> ResourceRecord:
    return ResourceRecord(
        resource_id=row["resource_id"], municipality_code=row["municipality_code"],
        kind=row["kind"], subkind=row["subkind"], name=row["name"], address=row["address"],
        area=row["area"], operator_kind=row["operator_kind"], hours=json.loads(row["hours"]),
        monthly_schedule=row["monthly_schedule"], content=row["content"], form=row["form"],
        fee=row["fee"], owner=row["owner"], last_verified_on=row["last_verified_on"],
        published=bool(row["published"]), name_key=row["name_key"], version=int(row["version"]),
        referral_profile=json.loads(row["referral_profile"]) if row["referral_profile"] else None,
        reading=_reading(row.get("search_text") or ""))


def encode_cursor(record: ResourceRecord) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(record.sort_key)).encode()).decode()


def decode_cursor(cursor: str) -> tuple[str, str, str]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not (isinstance(key, list) and len(key) == 3 and all(isinstance(k, str) for k in key)):
            raise TypeError
    except (ValueError, TypeError):
        raise CursorInvalidError from None
    return key[0], key[1], key[2]


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class ResourceDirectoryQueries:
    """Searches one municipality's directory (the caller merges neighbours' pages)."""

    def __init__(self, database: Database) -> None:
        self.db = database
        self._c = ' COLLATE "C"' if database.dialect == "postgres" else ""

    def _where(self, f: ResourceFilters) -> tuple[str, list[Any]]:
        clauses, params = ["1 = 1"], []
        if f.published_only:
            clauses.append("published = %s")
            params.append(True)
        for column in ("kind", "area", "fee"):
            if getattr(f, column) is not None:
                clauses.append(f"{column} = %s")
                params.append(getattr(f, column))
        if f.day is not None:
            clauses.append("substr(open_days, %s, 1) = '1'")
            params.append(WEEKDAYS.index(f.day) + 1)
        for term in query_terms(f.query):
            clauses.append("search_text LIKE %s ESCAPE '\\'")
            params.append(_like(term))
        return " AND ".join(clauses), params

    def _after(self, municipality_code: str,
               after: tuple[str, str, str] | None) -> tuple[str, list[Any]]:
        """Rows of this municipality after the cursor in (name, municipality, id) order."""
        if after is None:
            return "", []
        name_key, code, rid = after
        if municipality_code > code:
            return f" AND name_key{self._c} >= %s", [name_key]
        if municipality_code < code:
            return f" AND name_key{self._c} > %s", [name_key]
        return (f" AND (name_key{self._c} > %s OR (name_key = %s AND resource_id{self._c} > %s))",
                [name_key, name_key, rid])

    def search(self, municipality_code: str, filters: ResourceFilters, *, limit: int,
               after: tuple[str, str, str] | None) -> tuple[list[ResourceRecord], int]:
        """Up to ``limit`` rows after the cursor, and how many match in all."""
        where, params = self._where(filters)
        after_sql, after_params = self._after(municipality_code, after)
        with self.db.transaction(write=False) as cur:
            total = cur.execute(f"SELECT COUNT(*) AS n FROM {{s}}resource_view WHERE {where}",
                                params).fetchone()
            rows = cur.execute(
                f"SELECT * FROM {{s}}resource_view WHERE {where}{after_sql}"
                f" ORDER BY name_key{self._c}, resource_id{self._c} LIMIT %s",
                [*params, *after_params, limit]).fetchall()
        return [_record(r) for r in rows], int(total["n"] if total else 0)

    def get(self, resource_id: str) -> ResourceRecord | None:
        with self.db.transaction(write=False) as cur:
            row = cur.execute("SELECT * FROM {s}resource_view WHERE resource_id = %s",
                              (resource_id,)).fetchone()
        return _record(row) if row else None

    def rows(self) -> list[dict[str, Any]]:
        """Every row as stored (rebuild checks)."""
        with self.db.transaction(write=False) as cur:
            return cur.execute("SELECT * FROM {s}resource_view ORDER BY resource_id").fetchall()
