"""Exactly-once commands: a request's idempotency key, its claim, and the answer kept for repeats.

Networks fail after commit: a client that never saw the answer cannot know
whether its write happened, and a retry must not write again.  A request
carrying a key (the ``Idempotency-Key`` header of the IETF httpapi draft;
the console puts a one-time key in every form) runs each of its commands in
one unit of work that claims ``(caller, key, step)``, writes the command's
events and keeps the command's answer — all committed together or not at all
(``Database.unit_of_work``).  A repeat finds the row and answers from it
without running the command; the same key with a different request is
refused; a concurrent duplicate waits on the first one's claim and then
answers from it.  A command that was refused (a validation error, a
conflict) wrote nothing and kept nothing: its retry runs again.

The answer is kept as the command returned it (``services/outcomes.py``:
ids, versions, the API's answer objects) — which may hold personal data, so
it is sealed: under a data key of this process wrapped by the tenant key,
and again under the key of every household whose personal data the command
read or wrote.  Disposing of any of those households makes the kept answer
unreadable at once; the rest expire with the key's window (24 h by
default).  The reads of personal data the first answer made are logged
again when a repeat hands them out.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from yorisoi.domain.errors import DomainError
from yorisoi.infra.idempotency_store import IdempotencyStore, StoredRequest
from yorisoi.infra.recorders import noting_sealed
from yorisoi.services.outcomes import NotReplayableError, decode, encode
from yorisoi.services.personal_access import PersonalAccess

T = TypeVar("T")

DEFAULT_WINDOW = timedelta(hours=24)
MAX_KEY_LENGTH = 255
_SEALED_VERSION = b"\x01"


class IdempotencyKeyInvalidError(DomainError):
    code = "idempotency_key_invalid"
    message = "The Idempotency-Key must be 1 to 255 visible ASCII characters."
    message_ja = "Idempotency-Key は1〜255文字の半角英数字・記号で指定してください。"


class IdempotencyKeyReusedError(DomainError):
    code = "idempotency_key_reused"
    message = ("This request key was already used for different content (a form that was "
               "already sent?). Reload the form, or use a new key for a new request.")
    message_ja = ("この送信キーは別の内容で使用済みです（送信済みのフォームではありませんか）。"
                  "画面を再読み込みするか、新しいリクエストには新しいキーを使ってください。")


class IdempotentAnswerGoneError(DomainError):
    code = "idempotent_answer_gone"
    message = ("This request was already carried out; its answer can no longer be shown "
               "(the records it named were disposed of). Nothing was written again.")
    message_ja = ("このリクエストは既に処理済みです。対象の記録が廃棄されたため、"
                  "結果は表示できません（再度の書き込みは行っていません）。")


def key_digest(key: str) -> str:
    """The key as stored: its SHA-256 (a client may put anything in a key)."""
    return hashlib.sha256(key.encode()).hexdigest()


def request_digest(*parts: Any) -> str:
    """A stable digest of what was asked (canonical JSON of ``parts``)."""
    text = json.dumps(parts, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class IdempotentRequest:
    """A keyed request: who sent it, its key and what it asked; its commands are its steps."""

    caller: str
    key_digest: str
    request_digest: str
    window: timedelta = DEFAULT_WINDOW
    _steps: Any = field(default_factory=lambda: itertools.count(1), repr=False)

    @classmethod
    def of(cls, caller: str, key: str, digest: str, *,
           window: timedelta = DEFAULT_WINDOW) -> IdempotentRequest:
        if not (0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()):
            raise IdempotencyKeyInvalidError(field="Idempotency-Key")
        return cls(caller, key_digest(key), digest, window)

    def next_step(self) -> int:
        return next(self._steps)


class _ProcessKeys:
    """One data key per tenant for this process, wrapped by the tenant key (unwraps cached)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._own: dict[str, tuple[bytes, AESGCM]] = {}
        self._seen: dict[bytes, AESGCM] = {}

    @staticmethod
    def _context(tenant: str) -> dict[str, str]:
        return {"tenant": tenant, "purpose": "idempotent-answers"}

    def current(self, app: Any) -> tuple[bytes, AESGCM]:
        with self._lock:
            found = self._own.get(app.tenant)
            if found is None:
                data_key = AESGCM.generate_key(bit_length=256)
                wrapped = app.key_provider.wrap(app.tenant, data_key, self._context(app.tenant))
                found = self._own[app.tenant] = (wrapped, AESGCM(data_key))
                self._seen[wrapped] = found[1]
            return found

    def opened(self, app: Any, wrapped: bytes) -> AESGCM:
        with self._lock:
            aead = self._seen.get(wrapped)
        if aead is None:
            aead = AESGCM(app.key_provider.unwrap(app.tenant, wrapped,
                                                  self._context(app.tenant)))
            with self._lock:
                self._seen[wrapped] = aead
        return aead


_keys = _ProcessKeys()


def _aad(request: IdempotentRequest, step: int) -> bytes:
    return f"idempotency:{request.caller}:{request.key_digest}:{step}".encode()


def _seal(app: Any, request: IdempotentRequest, step: int, payload: Any,
          households: tuple[str, ...]) -> bytes | None:
    wrapped, aead = _keys.current(app)
    nonce = os.urandom(12)
    plaintext = json.dumps(payload, ensure_ascii=False).encode("utf-8", "surrogatepass")
    blob = (_SEALED_VERSION + len(wrapped).to_bytes(2, "big") + wrapped + nonce
            + aead.encrypt(nonce, plaintext, _aad(request, step)))
    for household in households:  # onion: any one household's disposal shreds it
        aead_h = app.keyring.for_reading(UUID(household))
        if aead_h is None:  # disposed of meanwhile: keep nothing readable
            return None
        nonce = os.urandom(12)
        blob = nonce + aead_h.encrypt(nonce, blob, _aad(request, step))
    return blob


def _open(app: Any, request: IdempotentRequest, step: int, stored: StoredRequest) -> Any:
    if stored.outcome is None:
        raise IdempotentAnswerGoneError(field="Idempotency-Key")
    blob = stored.outcome
    for household in reversed(stored.sealed_for):
        aead_h = app.keyring.for_reading(UUID(household))
        if aead_h is None:
            raise IdempotentAnswerGoneError(field="Idempotency-Key")
        blob = aead_h.decrypt(blob[:12], blob[12:], _aad(request, step))
    if blob[:1] != _SEALED_VERSION:
        raise ValueError("unknown idempotent answer envelope")
    size = int.from_bytes(blob[1:3], "big")
    wrapped, rest = blob[3:3 + size], blob[3 + size:]
    aead = _keys.opened(app, wrapped)
    return json.loads(aead.decrypt(rest[:12], rest[12:], _aad(request, step)))


def _reads_since(access: PersonalAccess | None,
                 before: dict[str, int]) -> list[list[Any]]:
    if access is None:
        return []
    reads = []
    for space, entries in access.pending().items():
        for e in entries[before.get(space, 0):]:
            reads.append([space, e.household_id, e.record_kind, e.record_id, list(e.fields)])
    return reads


def _counts(access: PersonalAccess | None) -> dict[str, int]:
    return {} if access is None else {s: len(e) for s, e in access.pending().items()}


_PURGE_EVERY = timedelta(minutes=10)
_purged: dict[str, datetime] = {}


def _purge_due(tenant: str, now: datetime) -> bool:
    """Whether this process should delete the tenant's expired keys now (every ten minutes)."""
    last = _purged.get(tenant)
    if last is not None and now - last < _PURGE_EVERY:
        return False
    _purged[tenant] = now
    return True


def run_once(app: Any, request: IdempotentRequest | None, body: Callable[[], T], *,
             access: PersonalAccess | None = None) -> T:
    """Run ``body`` (one command) exactly once for ``request``'s next step.

    Without a request (no key) the command simply runs.  ``app`` is the
    tenant application whose space keeps the key (the command's own);
    ``access`` is the request's record of personal reads.
    """
    if request is None:
        return body()
    step = request.next_step()
    store = IdempotencyStore()
    now = datetime.now(UTC)
    with app.database.unit_of_work() as cur:
        stored = store.claim(cur, request.caller, request.key_digest, step,
                             request.request_digest, now, now + request.window)
        if stored is None:
            before = _counts(access)
            with noting_sealed() as written:
                result = body()
            reads = _reads_since(access, before)
            households = tuple(sorted(written | {r[1] for r in reads}))
            try:
                payload = {"answer": encode(result), "reads": reads}
            except NotReplayableError:
                payload = None  # still claimed: a repeat never runs the command again
            outcome = None if payload is None else _seal(app, request, step, payload,
                                                         households)
            store.finish(cur, request.caller, request.key_digest, step,
                         outcome, households)  # type: ignore[arg-type]
            if _purge_due(app.tenant, now):
                store.purge_expired(cur, now)
            return result
    if stored.request_digest != request.request_digest:
        raise IdempotencyKeyReusedError(field="Idempotency-Key")
    payload = _open(app, request, step, stored)
    if access is not None:
        for space, household, kind, record_id, fields in payload["reads"]:
            basis = access.basis(space, household)
            if basis is None:  # the caller may no longer read it
                raise IdempotentAnswerGoneError(field="Idempotency-Key")
            access.record(space, household, kind, record_id, tuple(fields), basis)
    return decode(payload["answer"],
                  lambda aggregate_id, version: app.repository.get(aggregate_id,
                                                                   version=version))
