"""The blind index: finding a family by name, reading, phone or birth date without plaintext.

One table, ``household_index_token``: (token, household_id) pairs, where a
token is a truncated keyed hash of one folded value (``services/index_key.py``
for the key and the bits each field keeps, ``services/name_folding.py`` for
the folding).  No name, reading, phone or date is stored, nor which field a
token came from.  Per person of a household:

- ``name`` and ``reading`` (whole); ``name_bigram`` for every character pair of
  the name and ``reading_trigram`` for every three kana of the reading (partial
  matches: a term's pairs, or triples, must all be there); ``reading_word`` and
  ``reading_prefix`` (each word of the reading, and its first two kana: a
  two-kana term matches the start of a word);
- ``phone`` (guardians: digits only) and ``birth_date`` (children, ISO);
- ``name_birth`` and ``reading_birth`` (one child's name or reading with its
  birth date, so a duplicate check matches one person, not a family).

A household's tokens are replaced on every correction (the event carries the
whole state), dropped when its events are shredded, and purged by disposal.
The index rebuilds identically from the events: the key is stored, the
folding is deterministic.

``HouseholdIndex`` is the read side: the candidate households of a folded
term (which the caller confirms after decryption: truncation makes false
positives on purpose) and ``likely_matches`` for the duplicate check at
registration.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification

from yorisoi.domain.households import Household
from yorisoi.domain.errors import DomainError
from yorisoi.infra.db import Cursor, Database
from yorisoi.projections.case_view import household_aad
from yorisoi.projections.folded_batches import FoldedBatches
from yorisoi.services.index_key import HouseholdIndexKey
from yorisoi.services.name_folding import (
    bigrams,
    birth_date,
    fold_name,
    phone_digits,
    reading_words,
    trigrams,
)
from yorisoi.services.personal_data import HouseholdKeyring

INDEX_TABLES = ("household_index_token",)
_HANDLED = (Household.Registered, Household.Corrected)

# A search whose terms match more households than this asks for more characters:
# each candidate is decrypted to be confirmed (docs/search.md).
MAX_CANDIDATES = 2000


class SearchTooBroadError(DomainError):
    code = "search_too_broad"
    message = "Too many families match; type more of the name or reading, or add a filter."
    message_ja = ("該当する世帯が多すぎます。氏名やふりがなをもう少し入力するか、"
                  "条件を追加してください。")


def household_tokens(index_key: HouseholdIndexKey, guardians: Iterable[dict[str, Any]] | None,
                     children: Iterable[dict[str, Any]] | None) -> set[int]:
    """Every token of one household's recorded state."""
    token = index_key.token
    tokens: set[int] = set()

    def person(entry: dict[str, Any]) -> tuple[str, str]:
        name = fold_name(entry.get("name") or "")
        reading = fold_name(entry.get("reading") or "")
        if name:
            tokens.add(token("name", name))
            tokens.update(token("name_bigram", pair) for pair in bigrams(name))
        if reading:
            # Kana pairs are few and common (やま, たか): their token lists would be long.
            # Readings get triples instead, plus each word and each word's first two kana.
            tokens.add(token("reading", reading))
            tokens.update(token("reading_trigram", triple) for triple in trigrams(reading))
            for word in reading_words(entry.get("reading") or ""):
                tokens.add(token("reading_word", word))
                if len(word) >= 2:
                    tokens.add(token("reading_prefix", word[:2]))
        return name, reading

    for guardian in guardians or []:
        person(guardian)
        digits = phone_digits(guardian.get("phone") or "")
        if digits:
            tokens.add(token("phone", digits))
    for child in children or []:
        name, reading = person(child)
        born = birth_date(child.get("birth_date"))
        if born:
            tokens.add(token("birth_date", born))
            if name:
                tokens.add(token("name_birth", f"{name}\x00{born}"))
            if reading:
                tokens.add(token("reading_birth", f"{reading}\x00{born}"))
    return tokens


class HouseholdIndexView(FoldedBatches):
    """Projection of households' registered and corrected states into blind-index tokens.

    Batches are folded: a household's last state in the batch wins (each event
    carries the whole state), its old tokens go in one DELETE per batch and the
    new ones in one multi-row insert.
    """

    name = "household_index"
    tables = INDEX_TABLES
    # What the 個人情報ファイル簿 says of these tables (services/file_register.py).
    register_note = ("氏名・よみがな・電話番号・生年月日から作る鍵付きハッシュ（切り詰め）による"
                     "検索用索引。平文は保持しない。廃棄の際に世帯ごとに削除する。")

    def __init__(self, keyring: HouseholdKeyring) -> None:
        self.keyring = keyring
        self.index_key = HouseholdIndexKey(keyring)
        super().__init__()

    @staticmethod
    def ddl() -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS {s}household_index_token ("
            " token BIGINT NOT NULL, household_id TEXT NOT NULL,"
            " PRIMARY KEY (token, household_id))",
            "CREATE INDEX IF NOT EXISTS household_index_household"
            " ON {s}household_index_token (household_id)",
        ]

    def reset(self, cur: Cursor) -> None:
        self._write(cur)  # events held so far belong before the reset
        cur.execute("DELETE FROM {s}household_index_token")

    def purge(self, cur: Cursor, household_id: UUID | str) -> None:
        """Disposal: the household can no longer be found (a rebuild after it stores none)."""
        cur.execute("DELETE FROM {s}household_index_token WHERE household_id = %s",
                    (str(household_id),))

    @staticmethod
    def handles(event_cls: type) -> bool:
        return issubclass(event_cls, _HANDLED)

    def apply(self, cur: Cursor, event: Any, notification: Notification) -> None:
        self._hold(cur, event, notification)

    def _fold(self, cur: Cursor, items: list[tuple[Any, Notification]]) -> None:
        states: dict[str, set[int]] = {}
        registered: set[str] = set()
        for event, n in items:
            if not isinstance(event, _HANDLED):  # (a rebuild replays every event)
                continue
            household_id = n.originator_text
            if isinstance(event, Household.Registered):
                registered.add(household_id)
            if vars(event).get("_shredded"):  # the key is gone: nothing to find it by
                states[household_id] = set()
                continue
            states[household_id] = household_tokens(self.index_key, event.guardians,
                                                    event.children)
        replaced = sorted(set(states) - registered)
        if replaced:
            if cur.dialect == "postgres":
                cur.execute("DELETE FROM {s}household_index_token WHERE household_id = ANY(%s)",
                            (replaced,))
            else:
                for start in range(0, len(replaced), 500):
                    chunk = replaced[start:start + 500]
                    cur.execute("DELETE FROM {s}household_index_token WHERE household_id IN"
                                f" ({', '.join(['%s'] * len(chunk))})", chunk)
        rows = [(token, household_id) for household_id, tokens in states.items()
                for token in sorted(tokens)]
        cur.insert_many("household_index_token", ("token", "household_id"), ("int8", "text"),
                        rows, "ON CONFLICT (token, household_id) DO NOTHING")


# --------------------------------------------------------------------------- reads


@dataclass(frozen=True)
class PersonQuery:
    """One person of a household being registered, as the duplicate check receives it."""

    name: str | None = None
    reading: str | None = None
    phone: str | None = None
    birth_date: str | None = None


@dataclass(frozen=True)
class LikelyMatch:
    household_id: str
    reasons: tuple[str, ...]  # reading_birth_date | phone | name_birth_date, strongest first


_REASON_ORDER = ("reading_birth_date", "phone", "name_birth_date")


class HouseholdIndex:
    """Read side of one municipality's blind index."""

    def __init__(self, database: Database, keyring: HouseholdKeyring,
                 index_key: HouseholdIndexKey | None = None) -> None:
        self.db = database
        self.keyring = keyring
        self.index_key = index_key or HouseholdIndexKey(keyring)

    # -- tokens of a search term ------------------------------------------------

    def term_groups(self, *, folded: str | None = None, phone: str | None = None,
                    born: str | None = None) -> list[list[int]]:
        """Token groups for one term: a household matches when it holds every token of a group."""
        token = self.index_key.token
        groups: list[list[int]] = []
        if folded:
            pairs = bigrams(folded)
            # A reading is kana only (validated when recorded): a term with a kanji
            # in it can only be (part of) a name.
            kana_only = not any(_is_ideograph(ch) for ch in folded)
            if pairs:
                groups.append(sorted({token("name_bigram", p) for p in pairs}))
            else:  # one character: only a whole name of one character
                groups.append([token("name", folded)])
            if kana_only:
                if len(folded) >= 3:  # anywhere in the reading
                    groups.append(sorted({token("reading_trigram", t)
                                          for t in trigrams(folded)}))
                elif len(folded) == 2:  # the start of a word of the reading (ゆい: ゆいと)
                    groups.append([token("reading_prefix", folded)])
                else:  # one kana: a word of one kana
                    groups.append([token("reading_word", folded)])
        if phone:
            groups.append([token("phone", phone)])
        if born:
            groups.append([token("birth_date", born)])
        return groups

    def candidates_sql(self, groups: Sequence[Sequence[int]]) -> tuple[str, list[Any]]:
        """A sub-select of the households that hold every token of at least one group."""
        parts: list[str] = []
        params: list[Any] = []
        for group in groups:
            marks = ", ".join(["%s"] * len(group))
            parts.append("SELECT household_id FROM {s}household_index_token"
                         f" WHERE token IN ({marks}) GROUP BY household_id"
                         f" HAVING COUNT(*) = {len(group)}")
            params += list(group)
        return " UNION ".join(parts), params

    # -- duplicates at registration ----------------------------------------------

    def likely_matches(self, people: Iterable[PersonQuery | dict[str, Any]],
                       limit: int = 20) -> list[LikelyMatch]:
        """Households that likely are the one being registered, best match first.

        Matches: the same reading and birth date (one child), the same phone
        (a guardian), the same name and birth date (one child) — each found by
        token and then confirmed after decryption, so a truncation collision
        is never reported.  A system read (no access log): the caller shows
        only the candidates the person may see.
        """
        wanted: dict[str, list[tuple[int, str, str]]] = {}  # reason: (token, field value)
        token = self.index_key.token
        for person in people:
            p = person if isinstance(person, PersonQuery) else PersonQuery(
                name=person.get("name"), reading=person.get("reading"),
                phone=person.get("phone"), birth_date=person.get("birth_date"))
            name, reading = fold_name(p.name or ""), fold_name(p.reading or "")
            born = birth_date(p.birth_date) if p.birth_date else None
            digits = phone_digits(p.phone or "")
            if reading and born:
                value = f"{reading}\x00{born}"
                wanted.setdefault("reading_birth_date", []).append(
                    (token("reading_birth", value), "reading_birth", value))
            if digits:
                wanted.setdefault("phone", []).append((token("phone", digits), "phone", digits))
            if name and born:
                value = f"{name}\x00{born}"
                wanted.setdefault("name_birth_date", []).append(
                    (token("name_birth", value), "name_birth", value))
        tokens = sorted({t for entries in wanted.values() for t, _, _ in entries})
        if not tokens:
            return []
        with self.db.transaction(write=False) as cur:
            rows = cur.select_in("SELECT token, household_id FROM {s}household_index_token"
                                 " WHERE", "token", tokens)
            by_household: dict[str, set[int]] = {}
            for row in rows:
                by_household.setdefault(row["household_id"], set()).add(int(row["token"]))
            if len(by_household) > MAX_CANDIDATES:
                by_household = dict(sorted(by_household.items())[:MAX_CANDIDATES])
            sealed = {r["household_id"]: r["sealed"] for r in cur.select_in(
                "SELECT household_id, sealed FROM {s}household_view WHERE", "household_id",
                sorted(by_household))}
        self.keyring.preload(sealed)
        matches: list[LikelyMatch] = []
        for household_id, held in by_household.items():
            data = self.keyring.open_json(UUID(household_id), sealed.get(household_id),
                                          household_aad(household_id))
            if not data:
                continue
            facts = _person_facts(data)
            reasons = tuple(reason for reason in _REASON_ORDER if any(
                t in held and value in facts[field] for t, field, value in wanted.get(reason, [])))
            if reasons:
                matches.append(LikelyMatch(household_id, reasons))
        matches.sort(key=lambda m: (min(_REASON_ORDER.index(r) for r in m.reasons),
                                    -len(m.reasons), m.household_id))
        return matches[:limit]


def _is_ideograph(ch: str) -> bool:
    code = ord(ch)
    return (0x3400 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF or 0x20000 <= code <= 0x3FFFF
            or ch in "々〆")


def _person_facts(data: dict[str, Any]) -> dict[str, set[str]]:
    """The folded values of a decrypted household that the duplicate check compares."""
    facts: dict[str, set[str]] = {"reading_birth": set(), "phone": set(), "name_birth": set()}
    for guardian in data.get("guardians") or []:
        digits = phone_digits(guardian.get("phone") or "")
        if digits:
            facts["phone"].add(digits)
    for child in data.get("children") or []:
        born = birth_date(child.get("birth_date"))
        if not born:
            continue
        name, reading = fold_name(child.get("name") or ""), fold_name(child.get("reading") or "")
        if name:
            facts["name_birth"].add(f"{name}\x00{born}")
        if reading:
            facts["reading_birth"].add(f"{reading}\x00{born}")
    return facts


def matches_term(data: dict[str, Any], *, folded: str | None = None, phone: str | None = None,
                 born: str | None = None) -> bool:
    """Whether a decrypted household really holds a term (confirming a token candidate)."""
    guardians = data.get("guardians") or []
    children = data.get("children") or []
    if folded:
        for person in [*guardians, *children]:
            if (folded in fold_name(person.get("name") or "")
                    or folded in fold_name(person.get("reading") or "")):
                return True
    if phone and any(phone_digits(g.get("phone") or "") == phone for g in guardians):
        return True
    return bool(born and any(birth_date(c.get("birth_date")) == born for c in children))
