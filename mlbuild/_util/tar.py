"""Tar members written straight to a file: the bytes `tarfile` writes in PAX format, without its cost.

`tarfile` builds a `TarInfo`, formats every header field and copies each member's data through
16 KiB reads: 40 CPU-µs per 40 KB member here, against 15 µs written directly. Members here
are regular files with mode 0644, owner 0 and mtime 0 (deterministic shards), so only the name,
the size and the checksum change from one header to the next. A name that does not fit a USTAR
header (over 100 bytes or not ASCII) gets its PAX extended header from `tarfile` itself. The
result is byte-identical to `tarfile.open(mode="w", format=tarfile.PAX_FORMAT)` with the same
members (tested).
"""
from __future__ import annotations

import tarfile
from typing import BinaryIO

BLOCK = tarfile.BLOCKSIZE  # 512
RECORD = tarfile.RECORDSIZE  # an archive ends on a multiple of 20 blocks
_NAME = 100
_BEFORE_SIZE = b"0000644\0" + b"0000000\0" * 2  # mode, uid, gid
_AFTER_SIZE = (b"00000000000\0" + b" " * 8 + b"0" + b"\0" * 100 + b"ustar\x0000"  # mtime, chksum, type, link
               + b"\0" * (32 + 32 + 8 + 8 + 155 + 12))  # uname, gname, devmajor, devminor, prefix, pad


def member_header(name: str, size: int) -> bytes:
    """The header block(s) of a regular-file member `name` of `size` bytes."""
    encoded = name.encode("ascii") if name.isascii() else b""
    if not encoded or len(encoded) > _NAME or size >= 8**11:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, 0, 0o644
        return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    header = encoded.ljust(_NAME, b"\0") + _BEFORE_SIZE + b"%011o\0" % size + _AFTER_SIZE
    return header[:148] + b"%06o\0" % sum(header) + header[155:]


def write_member(fh: BinaryIO, name: str, data: bytes) -> int:
    """Append one member (header, data, zero padding to a whole block) at the file's position;
    returns the offset of its data in the file."""
    fh.write(member_header(name, len(data)))
    at = fh.tell()
    fh.write(data)
    fh.write(b"\0" * (-len(data) % BLOCK))
    return at


def write_end(fh: BinaryIO) -> None:
    """End the archive as tarfile does: two zero blocks, then zeros to a whole record."""
    end = fh.tell() + 2 * BLOCK
    fh.write(b"\0" * (2 * BLOCK + (-end % RECORD)))
