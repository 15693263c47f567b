"""Sealed objects (STREAM over AES-GCM): round trips, and every kind of tampering detected."""

from __future__ import annotations

import os
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from yorisoi.infra.sealed_objects import (
    CHUNK,
    HEADER_SIZE,
    MAGIC,
    TAG,
    ObjectKeyDestroyedError,
    SealedObjectError,
    SealedObjects,
    SealingDigest,
    is_sealed,
    open_bytes,
    open_stream,
    seal_bytes,
    seal_stream,
    subject_of,
)
from yorisoi.infra.storage import LocalObjectStore, ObjectStore, S3ObjectStore

KEY = "t_131016/households/5d6f2b0e-8c1e-4a57-9d0b-0c6f1f3e2a11/attachments/" + str(uuid.uuid4())
AEAD = AESGCM(AESGCM.generate_key(bit_length=256))
SECRET = b"s" * 32


def _chunks(sealed: bytes) -> list[bytes]:
    body = sealed[HEADER_SIZE:]
    return [body[i:i + CHUNK + TAG] for i in range(0, len(body), CHUNK + TAG)]


@pytest.mark.parametrize("size", [0, 1, CHUNK - 40, CHUNK, CHUNK + 1, 2 * CHUNK - 30,
                                  3 * CHUNK + 5])
def test_round_trip_at_every_boundary(size):
    data = os.urandom(size)
    digest = SealingDigest()
    sealed = b"".join(seal_stream(AEAD, KEY, [data[:7], data[7:]], content_type="application/pdf",
                                  digest=digest))
    assert is_sealed(sealed) and sealed.startswith(MAGIC)
    assert (digest.size, len(digest.sha256)) == (size, 64)
    assert open_bytes(AEAD, KEY, sealed) == (data, "application/pdf")
    # Fed back in odd-sized pieces, the same plaintext comes out.
    pieces = [sealed[i:i + 1000] for i in range(0, len(sealed), 1000)]
    assert b"".join(open_stream(AEAD, KEY, pieces).chunks) == data


def test_content_type_and_content_are_not_in_clear():
    data = "%PDF-1.4 consent of 架空 花子".encode().ljust(3 * CHUNK, b"#")
    sealed = seal_bytes(AEAD, KEY, data, content_type="application/pdf")
    # Whole markers, not 3-byte ones: ~200 KB of ciphertext holds a given 3-byte run
    # about once in eighty sealings by chance alone.
    assert b"%PDF-1.4" not in sealed and b"application/pdf" not in sealed
    assert "架空 花子".encode() not in sealed
    assert b"#" * 8 not in sealed


def test_two_sealings_of_the_same_file_differ():
    assert seal_bytes(AEAD, KEY, b"x", content_type="image/png") != seal_bytes(
        AEAD, KEY, b"x", content_type="image/png")


def _fails(sealed: bytes, key: str = KEY, aead: AESGCM = AEAD) -> None:
    with pytest.raises(SealedObjectError):
        b"".join(open_stream(aead, key, [sealed]).chunks)


def test_every_flipped_byte_is_detected():
    sealed = seal_bytes(AEAD, KEY, os.urandom(CHUNK + 100), content_type="application/pdf")
    positions = list(range(0, HEADER_SIZE + 40)) + list(range(len(sealed) - 40, len(sealed)))
    positions += list(range(HEADER_SIZE + CHUNK - 8, HEADER_SIZE + CHUNK + TAG + 8))
    for position in positions:
        tampered = bytearray(sealed)
        tampered[position] ^= 0x01
        _fails(bytes(tampered))


def test_truncation_reordering_and_swapping_are_detected():
    data = os.urandom(3 * CHUNK)
    sealed = seal_bytes(AEAD, KEY, data, content_type="application/pdf")
    header, chunks = sealed[:HEADER_SIZE], _chunks(sealed)
    assert len(chunks) == 4  # the preamble pushes the last bytes into a fourth chunk
    # Cut at a chunk boundary: the new last chunk was sealed as "not last".
    for keep in range(0, len(chunks)):
        _fails(header + b"".join(chunks[:keep]))
    _fails(sealed[:-1])
    _fails(sealed + b"\x00")
    # Two chunks swapped, one dropped, one repeated.
    _fails(header + chunks[1] + chunks[0] + chunks[2] + chunks[3])
    _fails(header + chunks[0] + chunks[2] + chunks[3])
    _fails(header + chunks[0] + chunks[1] + chunks[1] + chunks[2] + chunks[3])
    # Another object's key, another household's key, another object's header.
    _fails(sealed, key=KEY.replace("attachments/", "attachments/0"))
    _fails(sealed, aead=AESGCM(AESGCM.generate_key(bit_length=256)))
    other = seal_bytes(AEAD, KEY, data, content_type="application/pdf")
    _fails(other[:HEADER_SIZE] + sealed[HEADER_SIZE:])
    # A chunk of another object sealed under the same key and object key.
    _fails(header + chunks[0] + _chunks(other)[1] + chunks[2] + chunks[3])
    _fails(b"")
    _fails(MAGIC + b"\x02" + sealed[len(MAGIC) + 1:])  # an unknown format version


def test_sealing_and_opening_stay_memory_flat():
    """64 MiB through both directions while at most a few chunks are held at once."""
    size = 64 * 1024 * 1024
    block = os.urandom(CHUNK)

    def content() -> Iterator[bytes]:
        for _ in range(size // CHUNK):
            yield block

    tracemalloc.start()
    try:
        opened = open_stream(AEAD, KEY, seal_stream(AEAD, KEY, content(),
                                                    content_type="application/pdf"))
        total = sum(len(piece) for piece in opened.chunks)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == size
    assert peak < 2 * 1024 * 1024, peak


def test_subject_of_keys():
    found = subject_of(KEY)
    assert found is not None and found.municipality_code == "131016"
    assert str(found.subject_id) == "5d6f2b0e-8c1e-4a57-9d0b-0c6f1f3e2a11"
    staff = f"t_131016/staff/{uuid.uuid4()}/pledge/{uuid.uuid4()}"
    assert subject_of(staff) is not None
    for other in ("t_131016/certificates/x.json", KEY + "/x", "../" + KEY,
                  f"t_131016/households/{uuid.uuid4()}/referrals/{uuid.uuid4()}.json"):
        assert subject_of(other) is None


# --------------------------------------------------------------------------- through a store


class _Keyring:
    def __init__(self) -> None:
        self.keys: dict[uuid.UUID, AESGCM | None] = {}

    def for_writing(self, household_id: uuid.UUID) -> AESGCM:
        key = self.keys.setdefault(household_id, AESGCM(AESGCM.generate_key(bit_length=256)))
        assert key is not None
        return key

    def for_reading(self, household_id: uuid.UUID) -> AESGCM | None:
        return self.keys.get(household_id)


@pytest.fixture
def local_store(tmp_path: Path) -> LocalObjectStore:
    store = LocalObjectStore(tmp_path / "objects", SECRET)
    store.ensure_bucket()
    return store


@pytest.fixture
def s3_store(s3_env: str) -> S3ObjectStore:
    store = S3ObjectStore(f"yorisoi-sealed-{uuid.uuid4().hex[:12]}", endpoint_url=s3_env,
                          region="ap-northeast-1")
    store.ensure_bucket()
    return store


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest) -> ObjectStore:
    return request.getfixturevalue(f"{request.param}_store")


def test_sealed_objects_in_a_store(store: ObjectStore):
    keyring = _Keyring()
    sealed = SealedObjects(store, keyring)
    household = uuid.uuid4()
    key = f"t_131016/households/{household}/attachments/{uuid.uuid4()}"
    data = "同意書 架空 花子".encode() * 20000
    digest = sealed.put(key, household, data, content_type="application/pdf")
    assert digest.size == len(data)

    raw, stored = store.get(key)
    assert is_sealed(raw) and "架空".encode() not in raw
    assert stored.content_type == "application/octet-stream" and not stored.metadata
    opened = sealed.open(key, household)
    assert opened.content_type == "application/pdf"
    assert b"".join(opened.chunks) == data
    assert list(store.keys(f"t_131016/households/{household}")) == [key]

    # A clear object from before sealing opens as it is.
    legacy = f"t_131016/households/{household}/attachments/{uuid.uuid4()}"
    store.put(legacy, b"%PDF-1.4 old", content_type="application/pdf")
    opened = sealed.open(legacy, household)
    assert (opened.content_type, b"".join(opened.chunks)) == ("application/pdf", b"%PDF-1.4 old")

    # Once the key is gone the object cannot be opened, even though it is still there.
    keyring.keys[household] = None
    with pytest.raises(ObjectKeyDestroyedError):
        sealed.open(key, household)


def test_stream_round_trip_in_a_store(store: ObjectStore):
    key = f"t_131016/staff/{uuid.uuid4()}/pledge/{uuid.uuid4()}"
    parts = [os.urandom(5000) for _ in range(300)]  # ~1.5 MB: beyond the S3 spool in memory
    stored = store.put_stream(key, iter(parts), content_type="application/octet-stream")
    assert stored.size == sum(map(len, parts))
    pieces, info = store.open(key)
    assert b"".join(pieces) == b"".join(parts)
    assert info.size == stored.size and info.sha256 == stored.sha256
    assert store.purge_noncurrent(key.rsplit("/", 1)[0]) >= 0
