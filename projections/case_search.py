"""Filtering the case list: a search text, status, site, theme, staff, dates, overdue tasks.

``CaseFilter`` is what a caller (GraphQL's ``cases(filter:)``, the console's
search box) asks for; ``filter_clause`` turns it into a WHERE fragment over
``case_view`` that the keyset page and its count share, so ``totalCount`` and
the pages stay right under every filter.

The search text is split into terms; a case matches when every term matches
it.  A term is read as every kind of value it can be:

- a case number — the full id, the 8 characters the console shows, or the
  reception number (``R8-000123``, when the case view has that column);
- a child's birth date in any common form (令和6年4月1日, R6.4.1, 2024/4/1…);
- a phone number (10–11 digits, hyphens or not);
- otherwise part of a name or reading (kanji with variants folded, hiragana,
  katakana, half-width kana).

Personal kinds go through the blind index (``household_index``): candidate
households by token, limited to the caller's scope and the other filters,
then confirmed after decryption (truncated tokens give false positives on
purpose).  Searching by a personal value is a read of personal data: only a
reader with the need to know may do it (``SearchNotPermittedError``
otherwise) and it is logged — which kinds were searched and how many
households matched, never the text.
"""

from __future__ import annotations

import re
import time
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from yorisoi.domain.errors import DomainError
from yorisoi.infra.db import Database
from yorisoi.projections.case_view import household_aad
from yorisoi.projections.household_index import (
    MAX_CANDIDATES,
    HouseholdIndex,
    SearchTooBroadError,
    matches_term,
)
from yorisoi.services.name_folding import birth_date, fold_name, phone_digits
from yorisoi.services.personal_access import current_access
from yorisoi.services.personal_data import HouseholdKeyring

MAX_TEXT_LENGTH = 100
MAX_TERMS = 6

_RECEPTION_NUMBER = re.compile(r"^r(\d{1,2})-(\d{1,6})$")
_SHORT_CASE_NUMBER = re.compile(r"^[0-9a-f]{8}$")


class SearchNotPermittedError(DomainError):
    code = "search_not_permitted"
    message = ("Your role may not search by a family's name, reading, phone or birth date; "
               "search by case number or use the other filters.")
    message_ja = ("このロールでは氏名・ふりがな・電話番号・生年月日で検索できません。"
                  "ケース番号またはその他の条件で絞り込んでください。")


class SearchTextTooLongError(DomainError):
    code = "search_text_too_long"
    message = f"The search text is too long (at most {MAX_TEXT_LENGTH} characters, {MAX_TERMS} words)."
    message_ja = f"検索語が長すぎます（{MAX_TEXT_LENGTH}文字・{MAX_TERMS}語まで）。"


@dataclass(frozen=True)
class CaseFilter:
    """What the case list is narrowed to (every field optional; all given must hold)."""

    text: str | None = None
    status: str | None = None
    site_id: str | None = None
    theme: str | None = None
    staff: str | None = None  # a user id: recorded a consultation of the case, or owns a task
    opened_from: date | None = None
    opened_to: date | None = None
    has_overdue_tasks: bool | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, name) in (None, "") for name in self.__dataclass_fields__)


@dataclass(frozen=True)
class Term:
    """One word of the search text, read as every kind of value it can be."""

    case_id: str | None = None
    case_prefix: str | None = None
    reception_number: str | None = None
    born: str | None = None
    phone: str | None = None
    folded: str | None = None

    @property
    def personal(self) -> bool:
        return bool(self.born or self.phone or self.folded)

    @property
    def names_a_case(self) -> bool:
        return bool(self.case_id or self.case_prefix or self.reception_number)

    def kinds(self) -> list[str]:
        return [kind for kind, value in (
            ("case_number", self.case_id or self.case_prefix or self.reception_number),
            ("birth_date", self.born), ("phone", self.phone), ("name_or_reading", self.folded))
            if value]


def terms_of(text: str) -> list[Term]:
    """The search text's terms (SearchTextTooLongError past the limits)."""
    value = unicodedata.normalize("NFKC", text or "").strip()
    if len(value) > MAX_TEXT_LENGTH:
        raise SearchTextTooLongError(field="filter.text")
    words = value.split()
    # A phone typed with spaces (090 1234 5678) or a date (令和6年 4月 1日) is one term.
    if len(words) > 1 and (phone_digits(value) or birth_date(value)):
        words = ["".join(words)]
    if len(words) > MAX_TERMS:
        raise SearchTextTooLongError(field="filter.text")
    terms = [_term(word) for word in words]
    # Words that can only be (parts of) a name are the name as typed, family name
    # first (高橋 陽翔, タカハシ ハルト): searched as one run, as names are indexed
    # without their spaces.  One person's name, not a family name and a child's
    # given name from two people, and far fewer candidates than each word alone.
    if len(terms) > 1 and all(t.folded and not (t.born or t.phone or t.case_prefix)
                              for t in terms):
        terms = [Term(folded="".join(t.folded or "" for t in terms))]
    return terms


def _term(word: str) -> Term:
    lowered = word.lower()
    case_id = case_prefix = reception = None
    if match := _RECEPTION_NUMBER.match(lowered):
        reception = f"R{int(match.group(1))}-{int(match.group(2)):06d}"
    try:
        case_id = str(UUID(lowered))
    except ValueError:
        pass
    if _SHORT_CASE_NUMBER.match(lowered):
        case_prefix = lowered
    born = birth_date(word) if not case_id and not reception else None
    phone = phone_digits(word) if not born else None
    folded = None
    if not (case_id or reception or born or phone or case_prefix):
        folded = fold_name(word) or None
    return Term(case_id=case_id, case_prefix=case_prefix, reception_number=reception,
                born=born, phone=phone, folded=folded)


@dataclass
class SearchLog:
    """What a search tells the access log: the kinds of value and how many matched."""

    kinds: set[str] = field(default_factory=set)
    households: set[str] = field(default_factory=set)


class CaseSearch:
    """Builds the WHERE fragment of a filter, running the blind-index part of a text search."""

    def __init__(self, database: Database, keyring: HouseholdKeyring,
                 has_reception_number: Callable[[], bool]) -> None:
        self.db = database
        self.keyring = keyring
        self.index = HouseholdIndex(database, keyring)
        self.has_reception_number = has_reception_number

    def filter_clause(self, flt: CaseFilter, scope_where: str, scope_params: list[Any], *,
                      today: date) -> tuple[str, list[Any]]:
        """`` AND …`` conditions over case_view for ``flt`` (after the scope's own)."""
        where, params = _plain_conditions(flt, today)
        if not (flt.text or "").strip():
            return where, params
        terms = terms_of(flt.text or "")
        log = SearchLog()
        personal = [t for t in terms if t.personal and not t.names_a_case]
        mixed = [t for t in terms if t.names_a_case or not t.personal]
        if any(t.personal for t in terms):
            self._check_permitted()
        if personal:
            # Every personal term at once: the candidates hold the tokens of each term
            # (one term alone, 高橋, may match thousands), and are decrypted once.
            for term in personal:
                log.kinds.update(term.kinds())
            found = self._confirmed(personal, scope_where + where, scope_params + params)
            log.households.update(found)
            if found:
                where += " AND " + _in_clause(self.db, "household_id", len(found))
                params += _in_params(self.db, sorted(found))
            else:
                where += " AND 1 = 0"
        for term in mixed:
            condition, condition_params = self._term_condition(
                term, scope_where + where, scope_params + params, log)
            where += f" AND ({condition})"
            params += condition_params
        if log.kinds:
            self._log(log)
        return where, params

    # -- one term -----------------------------------------------------------------

    def _term_condition(self, term: Term, where: str, params: list[Any],
                        log: SearchLog) -> tuple[str, list[Any]]:
        """A term that may be a case number (or a personal value too: 8 digits)."""
        parts: list[str] = []
        values: list[Any] = []
        if term.case_id:
            parts.append("case_id = %s")
            values.append(term.case_id)
        if term.case_prefix:
            parts.append("case_id LIKE %s")
            values.append(term.case_prefix + "%")
        if term.reception_number and self.has_reception_number():
            parts.append("reception_number = %s")
            values.append(term.reception_number)
        if term.personal:
            log.kinds.update(k for k in term.kinds() if k != "case_number")
            found = self._confirmed([term], where, params)
            log.households.update(found)
            if found:
                parts.append(_in_clause(self.db, "household_id", len(found)))
                values += _in_params(self.db, sorted(found))
        if not parts:
            return "1 = 0", []
        return " OR ".join(parts), values

    def _confirmed(self, terms: list[Term], where: str, params: list[Any]) -> set[str]:
        """Households within ``where`` holding every term's tokens and, decrypted, every term."""
        conditions, condition_params = [], []
        for term in terms:
            groups = self.index.term_groups(folded=term.folded, phone=term.phone,
                                            born=term.born)
            if not groups:
                return set()
            candidates_sql, candidate_params = self.index.candidates_sql(groups)
            conditions.append(f" AND household_id IN ({candidates_sql})")
            condition_params += candidate_params
        rows = self.db.select(
            f"SELECT DISTINCT household_id FROM {{s}}case_view WHERE 1 = 1{where}"
            f"{''.join(conditions)} LIMIT %s",
            [*params, *condition_params, MAX_CANDIDATES + 1])
        if len(rows) > MAX_CANDIDATES:
            raise SearchTooBroadError(field="filter.text")
        ids = [row["household_id"] for row in rows]
        if not ids:
            return set()
        marks = _in_clause(self.db, "household_id", len(ids))
        sealed = self.db.select(f"SELECT household_id, sealed FROM {{s}}household_view"
                                f" WHERE {marks}", _in_params(self.db, ids))
        self.keyring.preload(row["household_id"] for row in sealed)
        found = set()
        for row in sealed:
            hid = row["household_id"]
            # The system's own read to confirm a token match; the person's read is
            # logged as the search (kinds and the households found).
            data = self.keyring.open_json(UUID(hid), row["sealed"], household_aad(hid))
            if data and all(matches_term(data, folded=t.folded, phone=t.phone, born=t.born)
                            for t in terms):
                found.add(hid)
        return found

    # -- who may, and the log ------------------------------------------------------

    def _check_permitted(self) -> None:
        access = current_access()
        if access is None:  # the system's own search (CLI, benchmarks): not a person's read
            return
        reader = access.reader(self.keyring.tenant)
        if reader is None or reader.mode != "full":
            raise SearchNotPermittedError(field="filter.text")

    def _log(self, log: SearchLog) -> None:
        access = current_access()
        if access is None:
            return
        reader = access.reader(self.keyring.tenant)
        if reader is None:
            return
        search_id = f"search:{uuid.uuid4()}"
        kinds = tuple(sorted(log.kinds))
        basis = ("grant", None)
        # One entry for the search (what kinds, how many), one per household it found:
        # "who looked for me" is answered from the household's own entries.
        access.record(self.keyring.tenant, "", "case_search", search_id,
                      (*kinds, f"results:{len(log.households)}"), basis)
        for household_id in sorted(log.households):
            access.record(self.keyring.tenant, household_id, "case_search", search_id, kinds,
                          basis)


def _plain_conditions(flt: CaseFilter, today: date) -> tuple[str, list[Any]]:
    where, params = "", []
    if flt.status:
        where += " AND status = %s"
        params.append(flt.status)
    if flt.site_id:
        where += " AND site_id = %s"
        params.append(flt.site_id)
    if flt.theme:
        # themes is the JSON list of codes; a code is "…" in it (codes are validated).
        where += " AND themes LIKE %s"
        params.append(f'%"{flt.theme}"%')
    if flt.staff:
        where += (" AND (case_id IN (SELECT case_id FROM {s}consultation_view"
                  " WHERE recorded_by = %s)"
                  " OR case_id IN (SELECT case_id FROM {s}task_view WHERE owner_user_id = %s))")
        params += [flt.staff, flt.staff]
    if flt.opened_from:
        where += " AND opened_on >= %s"
        params.append(flt.opened_from.isoformat())
    if flt.opened_to:
        where += " AND opened_on <= %s"
        params.append(flt.opened_to.isoformat())
    if flt.has_overdue_tasks is not None:
        where += (" AND case_id {} (SELECT case_id FROM {{s}}task_view"
                  " WHERE status = 'open' AND due_on < %s)").format(
                      "IN" if flt.has_overdue_tasks else "NOT IN")
        params.append(today.isoformat())
    return where, params


def _in_clause(database: Database, column: str, count: int) -> str:
    if database.dialect == "postgres":
        return f"{column} = ANY(%s)"
    return f"{column} IN ({', '.join(['%s'] * count)})"


def _in_params(database: Database, values: list[str]) -> list[Any]:
    return [values] if database.dialect == "postgres" else list(values)


class ColumnProbe:
    """Whether case_view has a column yet (another change adds ``reception_number``)."""

    def __init__(self, database: Database, column: str, recheck_seconds: float = 60.0) -> None:
        self.db = database
        self.column = column
        self.recheck_seconds = recheck_seconds
        self._known: bool | None = None
        self._checked_at = 0.0

    def __call__(self) -> bool:
        if self._known or (self._known is False
                           and time.monotonic() - self._checked_at < self.recheck_seconds):
            return bool(self._known)
        if self.db.dialect == "postgres":
            rows = self.db.select(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s"
                " AND table_name = 'case_view' AND column_name = %s",
                (self.db.schema or "public", self.column))
        else:  # (a statement that fails would abort a PostgreSQL transaction around it)
            rows = [r for r in self.db.select("PRAGMA table_info(case_view)")
                    if r["name"] == self.column]
        self._known = bool(rows)
        self._checked_at = time.monotonic()
        return self._known
