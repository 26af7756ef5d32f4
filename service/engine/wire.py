"""The engine's transport: what travels between a worker and the engine, and how.

Two kinds of connection share the engine's Unix socket (``engine.sock`` in the shared
folder); the first frame of each says which.

- **Control** (one per worker): length-prefixed JSON frames, rare and small. The engine
  sends the registry (every version with its manifest, status and *handle*) when the
  worker connects and again after each reload; the worker asks for reloads and says which
  handles it still holds (a retired version stays loaded while any worker holds it).
- **Data channel** (one per worker, version and concurrent batch): the worker creates a
  shared-memory segment of ``rows`` latent rows followed by ``rows`` uint8 images and
  names it in its opening frame. Then each batch is one fixed 8-byte request (rows, seq)
  and one 8-byte reply (rows, error length, then the error text if any): latents are
  written once by the worker and read once by the engine, pixels written once by the engine
  and read once by the worker, and nothing is pickled.

Framing never trusts the peer: a frame larger than ``MAX_FRAME`` or a short read is a
protocol error that closes that one connection.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import socket
import struct
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MAX_FRAME = 16 * 1024 * 1024  # a registry of many versions with their manifests fits
LENGTH = struct.Struct("<I")  # the length before every control message (JSON)
REQUEST = struct.Struct("<II")  # rows, sequence number
REPLY = struct.Struct("<II")  # rows, length of the error text that follows (0: success)
STOP = b"stop"  # the parent on the engine's stdin before it closes it: a stop, not a death


class ProtocolError(ConnectionError):
    """The peer sent something this protocol does not allow, or went away mid-frame."""


def recv_exact(sock: socket.socket, size: int) -> bytes:
    """``size`` bytes, or ProtocolError when the peer closes first."""
    buf = bytearray(size)
    view, got = memoryview(buf), 0
    while got < size:
        n = sock.recv_into(view[got:], size - got)
        if n == 0:
            raise ProtocolError("the connection closed")
        got += n
    return bytes(buf)


def send_json(sock: socket.socket, message: dict[str, Any]) -> None:
    data = json.dumps(message).encode()
    sock.sendall(LENGTH.pack(len(data)) + data)


def recv_json(sock: socket.socket) -> dict[str, Any]:
    (size,) = LENGTH.unpack(recv_exact(sock, LENGTH.size))
    if size > MAX_FRAME:
        raise ProtocolError(f"a frame of {size} bytes exceeds {MAX_FRAME}")
    message = json.loads(recv_exact(sock, size))
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise ProtocolError("a frame must be a JSON object with an 'op'")
    return message


class FrameReader:
    """Length-prefixed JSON frames from a non-blocking socket, as bytes arrive."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self._buf += data
        frames = []
        while len(self._buf) >= LENGTH.size:
            (size,) = LENGTH.unpack_from(self._buf)
            if size > MAX_FRAME:
                raise ProtocolError(f"a frame of {size} bytes exceeds {MAX_FRAME}")
            if len(self._buf) < LENGTH.size + size:
                break
            raw = bytes(self._buf[LENGTH.size : LENGTH.size + size])
            del self._buf[: LENGTH.size + size]
            message = json.loads(raw)
            if not isinstance(message, dict) or not isinstance(message.get("op"), str):
                raise ProtocolError("a frame must be a JSON object with an 'op'")
            frames.append(message)
        return frames


@dataclass(frozen=True)
class Layout:
    """Where a channel's latents and pixels lie in its segment."""

    rows: int
    nz: int
    image_shape: tuple[int, int, int]  # H, W, C of the uint8 pixels

    @property
    def latent_bytes(self) -> int:
        return self.rows * self.nz * 4

    @property
    def image_bytes(self) -> int:
        h, w, c = self.image_shape
        return h * w * c

    @property
    def size(self) -> int:
        return self.latent_bytes + self.rows * self.image_bytes

    def latents(self, buf: memoryview | bytearray, n: int) -> np.ndarray:
        return np.ndarray((n, self.nz), np.float32, buffer=buf, offset=0)

    def pixels(self, buf: memoryview | bytearray, n: int) -> np.ndarray:
        return np.ndarray((n, *self.image_shape), np.uint8, buffer=buf, offset=self.latent_bytes)


def engine_address(shared: Path) -> str:
    """Where the engine listens: on Linux a name in the abstract socket namespace
    (``@dcgan-engine-...``: no file, so a /tmp cleaner cannot take it away); elsewhere a
    socket file in the shared folder."""
    if sys.platform.startswith("linux"):
        return f"@dcgan-engine-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    return str(shared / "engine.sock")


def sockaddr(address: str) -> str:
    """What ``socket.bind``/``connect`` take: ``@name`` is the abstract ``\\0name``."""
    return "\0" + address[1:] if address.startswith("@") else address


def socket_file(address: str) -> Path | None:
    return None if address.startswith("@") else Path(address)


def same_user(sock: socket.socket) -> bool:
    """The peer runs as this process's user (SO_PEERCRED; True where it is not offered)."""
    if not hasattr(socket, "SO_PEERCRED"):
        return True
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return bool(uid == os.getuid())


def segment_folder() -> Path:
    """Memory-backed files: /dev/shm where there is one (Linux), else the temporary folder."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


class Segment:
    """A shared-memory segment: a file in :func:`segment_folder`, mapped. The worker makes
    it, the engine maps it by path, and the worker unlinks the file once the engine has it
    (so nothing is left behind whichever process dies later)."""

    def __init__(self, path: Path, size: int, *, create: bool) -> None:
        flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
        fd = os.open(path, flags, 0o600)
        try:
            if create:
                os.ftruncate(fd, size)
            elif os.fstat(fd).st_size < size:
                raise ProtocolError(f"segment {path.name} is smaller than its layout")
            self.map = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self.path, self.buf = path, memoryview(self.map)

    @classmethod
    def create(cls, size: int) -> Segment:
        return cls(segment_folder() / f"dcgan-{os.getpid()}-{uuid.uuid4().hex}", size, create=True)

    def unlink(self) -> None:
        self.path.unlink(missing_ok=True)

    def close(self) -> None:
        self.buf.release()
        with contextlib.suppress(BufferError):  # an array still views it: it goes with it
            self.map.close()
