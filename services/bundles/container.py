"""The bundle file: a POSIX tar whose last two members are the signed manifest.

Members are written in order; an NDJSON part longer than a chunk is split
into numbered members (``events.000001.ndjson`` …) so that nothing is held in
memory but one chunk, and an object is copied in pieces.  The manifest
(``manifest.json``) lists every member with its size and SHA-256 and gives
the SHA-256 of *every byte of the file before it* (headers and padding
included); ``manifest.sig`` is the platform's Ed25519 signature of the
manifest.  A reader checks that prefix hash, the signature, the padding of
the two last members and that nothing but zero blocks follows: one byte
changed anywhere in the file is refused (tar's header checksums cover the
last two headers).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from yorisoi.infra.signing import PlatformSigner, SignatureInvalidError, canonical_json, key_id
from yorisoi.infra.signing import verify as verify_signature
from yorisoi.services.bundles.errors import (
    BundleFormatError,
    BundleSignatureError,
    BundleTamperedError,
)

FORMAT = "yorisoi-tenant-bundle/1"
MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"
CHUNK_BYTES = 8 * 1024 * 1024  # an NDJSON member is cut after this many bytes
_PIECE = 1024 * 1024
_BLOCK = tarfile.BLOCKSIZE


class _Hashing(io.RawIOBase):
    """A write-only file that hashes what passes through (tar writes through it)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw, self.digest, self.position = raw, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        data = bytes(data)
        self.raw.write(data)
        self.digest.update(data)
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o600, 0  # no clock in the file: same data, same bytes
    return info


class BundleWriter:
    """Writes members in order to ``<path>.partial``; ``finish`` signs and moves it in place.

    An export that stops half-way leaves only the ``.partial`` file, which the
    next run replaces: restartable, never a bundle that looks whole.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._file = os.fdopen(fd, "wb")  # open until finish() or abort()
        self._hashing = _Hashing(self._file)  # type: ignore[arg-type]
        self._tar = tarfile.open(fileobj=self._hashing, mode="w",  # type: ignore[call-overload] # noqa: SIM115
                                 format=tarfile.USTAR_FORMAT)
        self.members: list[dict[str, Any]] = []

    def add_bytes(self, name: str, data: bytes, **extra: Any) -> None:
        self._tar.addfile(_info(name, len(data)), io.BytesIO(data))
        self.members.append({"name": name, "size": len(data),
                             "sha256": hashlib.sha256(data).hexdigest(), **extra})

    def add_stream(self, name: str, size: int, pieces: Iterable[bytes]) -> str:
        """A member of known size from pieces (an object); returns its SHA-256."""
        digest, written = hashlib.sha256(), 0

        class _Reader(io.RawIOBase):
            def __init__(self) -> None:
                self.it, self.rest = iter(pieces), b""

            def readable(self) -> bool:
                return True

            def readinto(self, buffer: Any) -> int:
                nonlocal written
                while not self.rest:
                    try:
                        self.rest = next(self.it)
                    except StopIteration:
                        return 0
                n = min(len(buffer), len(self.rest))
                buffer[:n], self.rest = self.rest[:n], self.rest[n:]
                digest.update(buffer[:n])
                written += n
                return n

        self._tar.addfile(_info(name, size), io.BufferedReader(_Reader(), _PIECE))
        if written != size:
            raise BundleFormatError(message=f"member {name} changed size while it was read",
                                    message_ja=f"{name} の読み取り中に大きさが変わりました")
        self.members.append({"name": name, "size": size, "sha256": digest.hexdigest()})
        return digest.hexdigest()

    def ndjson(self, part: str, lines: Iterable[bytes]) -> int:
        """``part`` as one or more members of newline-terminated JSON; returns the line count."""
        buffer, count, number = bytearray(), 0, 0
        for line in lines:
            buffer += line
            buffer += b"\n"
            count += 1
            if len(buffer) >= CHUNK_BYTES:
                number += 1
                self.add_bytes(f"{part}.{number:06d}.ndjson", bytes(buffer))
                buffer.clear()
        if buffer or number == 0:
            number += 1
            self.add_bytes(f"{part}.{number:06d}.ndjson", bytes(buffer))
        return count

    def finish(self, manifest: dict[str, Any], signer: PlatformSigner) -> dict[str, Any]:
        document = {**manifest, "format": FORMAT, "members": self.members,
                    "prefixBytes": self._hashing.position,
                    "prefixSha256": self._hashing.digest.hexdigest(),
                    "signer": {"keyId": signer.key_id, "publicKey": signer.public_pem}}
        body = canonical_json(document)
        self._tar.addfile(_info(MANIFEST, len(body)), io.BytesIO(body))
        signature = canonical_json(signer.sign(document).as_dict())
        self._tar.addfile(_info(SIGNATURE, len(signature)), io.BytesIO(signature))
        self._tar.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.partial, self.path)
        return document

    def abort(self) -> None:
        self._file.close()
        self.partial.unlink(missing_ok=True)


def _padded(size: int) -> int:
    return -(-size // _BLOCK) * _BLOCK


def _zeros(handle: BinaryIO, start: int, end: int) -> bool:
    handle.seek(start)
    left = end - start
    while left > 0:
        piece = handle.read(min(left, _PIECE))
        if not piece or piece.count(0) != len(piece):
            return False
        left -= len(piece)
    return True


class BundleReader:
    """A bundle whose bytes were all checked against its signed manifest.

    ``public_pem`` pins the exporting platform's key; without it the key
    named in the manifest is used and the caller must show its key id.
    """

    def __init__(self, path: Path, public_pem: str | None = None) -> None:
        self.path = Path(path)
        try:
            self._tar = tarfile.open(self.path, "r:")  # noqa: SIM115 - closed by close()
            members = self._tar.getmembers()
        except (tarfile.TarError, OSError, EOFError):
            raise BundleTamperedError() from None
        if len(members) < 2 or [m.name for m in members[-2:]] != [MANIFEST, SIGNATURE]:
            raise BundleTamperedError()
        manifest_info, signature_info = members[-2:]
        handle = self._tar.fileobj
        assert handle is not None
        try:
            manifest = json.loads(self._read(manifest_info))
            signature = json.loads(self._read(signature_info))
        except ValueError:
            raise BundleTamperedError() from None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("signer"), dict):
            raise BundleTamperedError()
        pem = public_pem or str(manifest["signer"].get("publicKey", ""))
        try:
            verify_signature(pem, manifest, signature)
        except (SignatureInvalidError, ValueError, TypeError, AttributeError):
            raise BundleSignatureError() from None
        if manifest.get("format") != FORMAT:  # signed, but by a version that writes another
            raise BundleFormatError()
        end = os.path.getsize(self.path)
        # Exactly what tar writes after the last member: two zero blocks, then zeros up to a
        # whole record.  A byte cut off or appended is refused like one changed.
        last = _padded(signature_info.offset_data + signature_info.size) + 2 * _BLOCK
        if end != -(-last // tarfile.RECORDSIZE) * tarfile.RECORDSIZE:
            raise BundleTamperedError()
        if (manifest.get("prefixBytes") != manifest_info.offset
                or self._prefix_sha256(manifest_info.offset) != manifest.get("prefixSha256")
                or not _zeros(handle, manifest_info.offset_data + manifest_info.size,
                              _padded(manifest_info.offset_data + manifest_info.size))
                or not _zeros(handle, signature_info.offset_data + signature_info.size, end)):
            raise BundleTamperedError()
        listed = [(m["name"], m["size"]) for m in manifest.get("members", [])]
        if listed != [(m.name, m.size) for m in members[:-2]]:
            raise BundleTamperedError()
        self.manifest = manifest
        self.signer_pem = pem
        self.signer_key_id = key_id(pem)
        self._members = {m.name: m for m in members[:-2]}

    def _read(self, info: tarfile.TarInfo) -> bytes:
        extracted = self._tar.extractfile(info)
        assert extracted is not None
        return extracted.read()

    def _prefix_sha256(self, length: int) -> str:
        digest = hashlib.sha256()
        with open(self.path, "rb") as handle:
            left = length
            while left > 0:
                piece = handle.read(min(left, _PIECE))
                if not piece:
                    break
                digest.update(piece)
                left -= len(piece)
        return digest.hexdigest()

    def names(self, part: str) -> list[str]:
        prefix = part + "."
        return [name for name in self._members if name.startswith(prefix)
                and name.endswith(".ndjson") and name[len(prefix):-7].isdigit()]

    def lines(self, part: str) -> Iterator[bytes]:
        """The part's lines (without their newline), one member in memory at a time."""
        for name in self.names(part):
            data = self._read(self._members[name])
            for line in data.split(b"\n"):
                if line:
                    yield line

    def records(self, part: str) -> Iterator[dict[str, Any]]:
        for line in self.lines(part):
            yield json.loads(line)

    def object_names(self) -> list[str]:
        return [name for name in self._members if name.startswith("objects/")]

    def open_member(self, name: str) -> Iterator[bytes]:
        extracted = self._tar.extractfile(self._members[name])
        assert extracted is not None
        while piece := extracted.read(_PIECE):
            yield piece

    def close(self) -> None:
        self._tar.close()
