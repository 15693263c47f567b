"""Sealed objects: files derived from a household, encrypted under the household's key.

An attachment (a signed consent form, minutes) or a staff member's pledge is
personal data like any event field: if it lay in the bucket in clear, every
backup and replica of the bucket would keep a readable copy long after
disposal destroyed the household key.  So every such object is stored
*sealed*: chunked AES-GCM under the data subject's key (the household's; a
staff member's own key for a pledge), in the STREAM construction
(Hoang, Reyhanitabar, Rogaway, Vizár 2015):

    object   = header ‖ chunk₀ ‖ chunk₁ ‖ … ‖ chunkₙ
    header   = MAGIC (8 bytes) ‖ format version (1) ‖ nonce prefix (7 random bytes)
    chunkᵢ   = AES-GCM(key, nonce = prefix ‖ i (4 bytes, big-endian) ‖ last (1 byte),
                       plaintext ≤ 64 KiB, aad = CONTEXT ‖ header ‖ object key)

* the chunk index in the nonce detects reordering and dropped chunks;
* the final-chunk flag detects truncation at a chunk boundary (a stream cut
  after chunk *i* ends with a chunk sealed as "not last");
* the object key in the associated data detects an object swapped into
  another object's place (same household, other attachment);
* the per-object random prefix keeps nonces unique under one household key
  (2⁵⁶ prefixes; each object has at most 2³² chunks, i.e. 256 TiB).

The plaintext starts with a small sealed preamble (a 2-byte length and a JSON
object: the content type), so the only clear metadata in the store is the
object key (ids only) and its size; the store records every sealed object as
``application/octet-stream`` with no metadata.

Both directions are streamed, 64 KiB at a time: memory stays flat for any
file size.  A sealed object is told from a clear one (stored before sealing
existed) by its magic header, which no PDF, PNG, JPEG or JSON starts with.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from yorisoi.infra.storage import ObjectStore, StorageError

MAGIC = b"\x89YSO\r\n\x1a\n"  # PNG-style: high bit, line-ending and EOF guards
FORMAT_VERSION = 1
CHUNK = 64 * 1024
TAG = 16
_PREFIX = 7
HEADER_SIZE = len(MAGIC) + 1 + _PREFIX
_CONTEXT = b"yorisoi.sealed-object.v1\x00"
_MAX_PREAMBLE = 1024
SEALED_CONTENT_TYPE = "application/octet-stream"


class SealedObjectError(StorageError):
    """A sealed object failed authentication: tampered, truncated, reordered or swapped."""

    code = "object_integrity"
    message = "A stored file failed its integrity check."
    message_ja = "保存されたファイルの完全性を確認できませんでした。"


class ObjectKeyDestroyedError(StorageError):
    """The data subject's key is gone (disposal): the object can never be opened again."""

    code = "household_disposed"
    message = "This household's records have been disposed of."
    message_ja = "この世帯の記録は廃棄済みです。"


def is_sealed(head: bytes) -> bool:
    """Whether an object's first bytes are a sealed object's header."""
    return head[:len(MAGIC)] == MAGIC


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    if index >= 2 ** 32:
        raise SealedObjectError("a sealed object has at most 2**32 chunks")
    return prefix + struct.pack(">IB", index, 1 if last else 0)


def _aad(header: bytes, object_key: str) -> bytes:
    return _CONTEXT + header + object_key.encode("utf-8")


def _rechunk(parts: Iterable[bytes], size: int) -> Iterator[bytes]:
    """The bytes of ``parts`` again, in pieces of exactly ``size`` (the last may be shorter)."""
    buffer = bytearray()
    for part in parts:
        buffer += part
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    yield bytes(buffer)


def _with_last(pieces: Iterator[bytes]) -> Iterator[tuple[bytes, bool]]:
    """Each piece with whether it is the last (one piece of look-ahead)."""
    current = next(pieces)
    for following in pieces:
        if not following:  # _rechunk's trailing empty piece after an exact multiple
            break
        yield current, False
        current = following
    yield current, True


@dataclass
class SealingDigest:
    """What a sealing pass learned about the plaintext (filled in as it streams)."""

    sha256: str = ""
    size: int = 0
    stored_sha256: str = ""  # of the sealed bytes as stored (set by SealedObjects.put)


def seal_stream(aead: AESGCM, object_key: str, content: Iterable[bytes], *,
                content_type: str, digest: SealingDigest | None = None) -> Iterator[bytes]:
    """The sealed object's bytes, chunk by chunk, for ``content`` (an iterable of bytes).

    ``digest`` (when given) receives the plaintext's SHA-256 and size once the
    stream is exhausted: events record the digest of what was uploaded.
    """
    preamble = json.dumps({"content_type": content_type}, separators=(",", ":")).encode()
    if len(preamble) > _MAX_PREAMBLE:
        raise ValueError("the sealed preamble is too long")
    header = MAGIC + bytes([FORMAT_VERSION]) + os.urandom(_PREFIX)
    aad = _aad(header, object_key)
    hasher = hashlib.sha256()
    size = 0

    def plaintext() -> Iterator[bytes]:
        nonlocal size
        yield struct.pack(">H", len(preamble)) + preamble
        for part in content:
            hasher.update(part)
            size += len(part)
            yield bytes(part)

    yield header
    prefix = header[len(MAGIC) + 1:]
    for index, (piece, last) in enumerate(_with_last(_rechunk(plaintext(), CHUNK))):
        yield aead.encrypt(_nonce(prefix, index, last), piece, aad)
    if digest is not None:
        digest.sha256, digest.size = hasher.hexdigest(), size


@dataclass
class OpenedObject:
    """A sealed object being opened: its sealed content type and its plaintext, streamed.

    ``chunks`` raises :class:`SealedObjectError` as soon as a chunk fails
    authentication, and at the end if the object was cut short.
    """

    content_type: str
    chunks: Iterator[bytes]


def open_stream(aead: AESGCM, object_key: str, sealed: Iterable[bytes]) -> OpenedObject:
    """Open a sealed object streamed as ``sealed``; the first chunk is checked at once."""
    pieces = _rechunk(sealed, CHUNK + TAG)
    first = next(pieces)
    # The header is the first HEADER_SIZE bytes of the first piece; re-cut the rest.
    header, rest = first[:HEADER_SIZE], first[HEADER_SIZE:]
    if len(header) < HEADER_SIZE or not is_sealed(header) or header[len(MAGIC)] != FORMAT_VERSION:
        raise SealedObjectError("not a sealed object of a known format")
    prefix = header[len(MAGIC) + 1:]
    aad = _aad(header, object_key)

    def body() -> Iterator[bytes]:
        yield rest
        yield from pieces

    def plaintexts() -> Iterator[bytes]:
        index = 0
        for piece, last in _with_last(_rechunk(body(), CHUNK + TAG)):
            if len(piece) < TAG:
                raise SealedObjectError("a sealed object was cut short")
            try:
                yield aead.decrypt(_nonce(prefix, index, last), piece, aad)
            except InvalidTag:
                raise SealedObjectError("a sealed object failed authentication") from None
            index += 1

    chunks = plaintexts()
    opening = next(chunks)
    try:
        (length,) = struct.unpack(">H", opening[:2])
        if length > _MAX_PREAMBLE or len(opening) < 2 + length:
            raise ValueError
        meta: dict[str, Any] = json.loads(opening[2:2 + length])
        content_type = str(meta["content_type"])
    except (ValueError, KeyError, TypeError, struct.error):
        raise SealedObjectError("a sealed object's preamble is malformed") from None

    def content() -> Iterator[bytes]:
        if len(opening) > 2 + length:
            yield opening[2 + length:]
        yield from chunks

    return OpenedObject(content_type, content())


def seal_bytes(aead: AESGCM, object_key: str, data: bytes, *, content_type: str) -> bytes:
    """A whole sealed object in memory (small objects and tests)."""
    return b"".join(seal_stream(aead, object_key, [data], content_type=content_type))


def open_bytes(aead: AESGCM, object_key: str, sealed: bytes) -> tuple[bytes, str]:
    """A whole sealed object's plaintext and content type."""
    opened = open_stream(aead, object_key, [sealed])
    return b"".join(opened.chunks), opened.content_type


# --------------------------------------------------------------------------- under a keyring

# Objects sealed under a data subject's key, by where they live: a household's
# attachments (and its other files), a staff member's pledge.  The subject's id
# is in the key, so a download link needs nothing else to find the key.
SUBJECT_KEY = re.compile(
    r"^(t_\d{6})/(households|staff)/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/"
    r"(attachments|pledge)/([0-9a-f-]{36})$")


@dataclass(frozen=True)
class SubjectObject:
    """Where a sealed object belongs: the municipality's space and the key's subject."""

    space: str
    subject_id: UUID

    @property
    def municipality_code(self) -> str:
        return self.space.removeprefix("t_")


def subject_of(object_key: str) -> SubjectObject | None:
    """The space and data subject of a sealed object's key, or None for other keys."""
    match = SUBJECT_KEY.match(object_key)
    if match is None:
        return None
    return SubjectObject(match.group(1), UUID(match.group(3)))


class Keyring(Protocol):
    """What sealing needs of ``services/personal_data.HouseholdKeyring``."""

    def for_writing(self, household_id: UUID) -> AESGCM: ...
    def for_reading(self, household_id: UUID) -> AESGCM | None: ...


class SealedObjects:
    """A tenant's object store seen through its keyring: sealed in, opened out."""

    def __init__(self, objects: ObjectStore, keyring: Keyring) -> None:
        self.objects = objects
        self.keyring = keyring

    def put(self, key: str, subject_id: UUID, content: bytes | Iterable[bytes], *,
            content_type: str) -> SealingDigest:
        """Seal and store; the plaintext's digest and size (what events record).

        The key is asked of the database (``for_writing``): a household
        disposed of a moment ago by another process receives no new file.
        """
        aead = self.keyring.for_writing(subject_id)
        parts = _pieces(content) if isinstance(content, (bytes, bytearray, memoryview)) else content
        digest = SealingDigest()
        stored = self.objects.put_stream(key, seal_stream(aead, key, parts,
                                                          content_type=content_type,
                                                          digest=digest),
                                         content_type=SEALED_CONTENT_TYPE)
        digest.stored_sha256 = stored.sha256
        return digest

    def open(self, key: str, subject_id: UUID) -> OpenedObject:
        """The object's plaintext, streamed (a clear object from before sealing as it is).

        Raises ``ObjectNotFoundError``, :class:`ObjectKeyDestroyedError` once
        the subject's key is gone, :class:`SealedObjectError` when tampered.
        """
        pieces, stored = self.objects.open(key)
        first = next(pieces, b"")
        while len(first) < len(MAGIC):  # a store may hand out tiny first pieces
            more = next(pieces, None)
            if more is None:
                break
            first += more
        rest = _chain(first, pieces)
        if not is_sealed(first):
            # Stored before objects were sealed; `yorisoi storage reseal` seals it.  A clear
            # copy of a disposed household (a restored old backup) is not handed out.
            if self._destroyed(subject_id):
                _close(pieces)
                raise ObjectKeyDestroyedError(key)
            return OpenedObject(stored.content_type, rest)
        aead = self.keyring.for_reading(subject_id)
        if aead is None:
            _close(pieces)
            raise ObjectKeyDestroyedError(key)
        return open_stream(aead, key, rest)


    def _destroyed(self, subject_id: UUID) -> bool:
        """Whether the subject's key row records its destruction (not merely absent)."""
        store = getattr(self.keyring, "store", None)
        return store is not None and store.wrapped(subject_id) is None


def _pieces(data: bytes | bytearray | memoryview) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), CHUNK):
        yield bytes(view[start:start + CHUNK])


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _close(pieces: Iterator[bytes]) -> None:
    close = getattr(pieces, "close", None)
    if close is not None:
        close()
