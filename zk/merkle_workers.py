"""Worker processes that hash aligned Merkle subtrees for :mod:`zk.merkle`.

A worker is ``python -m zk.merkle_workers keep|root``: it reads subtrees from stdin and writes
their levels (``keep``) or roots back, one subtree at a time, until stdin ends. Processes, not
threads: ``hashlib`` holds the GIL for inputs this short. The workers are plain subprocesses that
import only this package's standard-library code (not ``multiprocessing``, whose ``spawn``
re-imports the parent's ``__main__``, e.g. all of Dagster).

Wire format (little-endian), per subtree:
request ``segments (u32) | leaves (u32)``, then per segment
``leaves (u64) | data bytes (u64) | offset width (u8: 4 or 8) | offsets | data``, offsets
counting from the segment's first offset; reply ``bytes (u64) | levels``, the levels back to back,
leaves first (``keep``), or the 32-byte root.

Invariants: the parent writes a subtree to a worker only after reading that worker's previous
reply, so neither side can block the other; replies are put back in submission order; a worker
that dies fails the build with its exit code and the end of its stderr.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from zk.merkle import Buffer, hash_packed, level_sizes, subtree_levels

__all__ = ["WorkerPool", "serve"]

_REQUEST = struct.Struct("<II")
_SEGMENT = struct.Struct("<QQB")
_REPLY = struct.Struct("<Q")


def _read(stream: IO[bytes], n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise EOFError(f"expected {n} bytes, got {len(data)}")
    return data


class WorkerPool:
    """``workers`` subprocesses; :meth:`submit` subtrees, then :meth:`results`, then :meth:`close`."""

    def __init__(self, workers: int, keep: bool) -> None:
        # From the project root, ``-m zk.merkle_workers`` finds the package (installed or not).
        root = str(Path(__file__).resolve().parent.parent)
        self.keep = keep
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-m", "zk.merkle_workers", "keep" if keep else "root"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=root,
            )
            for _ in range(workers)
        ]
        self.in_flight: list[tuple[int, int] | None] = [None] * workers  # (subtree, leaves)
        self.done: dict[int, list[bytes]] = {}
        self.submitted = 0

    def submit(self, segments: Sequence[tuple[Buffer, memoryview]], leaves: int) -> None:
        w = self.submitted % len(self.procs)
        self._collect(w)
        stdin = self.procs[w].stdin
        assert stdin is not None
        try:
            stdin.write(_REQUEST.pack(len(segments), leaves))
            for data, offsets in segments:
                stdin.write(
                    _SEGMENT.pack(len(offsets) - 1, offsets[-1] - offsets[0], offsets.itemsize)
                )
                stdin.write(offsets)
                stdin.write(memoryview(data)[offsets[0] : offsets[-1]])
            stdin.flush()
        except BrokenPipeError:
            raise self._died(w) from None
        self.in_flight[w] = (self.submitted, leaves)
        self.submitted += 1

    def _collect(self, w: int) -> None:
        job = self.in_flight[w]
        if job is None:
            return
        stdout = self.procs[w].stdout
        assert stdout is not None
        try:
            payload = _read(stdout, _REPLY.unpack(_read(stdout, _REPLY.size))[0])
        except EOFError:
            raise self._died(w) from None
        index, leaves = job
        if not self.keep:
            self.done[index] = [payload]
        else:
            levels, at = [], 0
            for size in level_sizes(leaves):
                levels.append(payload[at : at + 32 * size])
                at += 32 * size
            self.done[index] = levels
        self.in_flight[w] = None

    def _died(self, w: int) -> RuntimeError:
        proc = self.procs[w]
        proc.kill()
        code = proc.wait()
        err = proc.stderr.read()[-2000:].decode(errors="replace") if proc.stderr else ""
        return RuntimeError(f"Merkle worker process {proc.pid} exited with code {code}: {err}")

    def results(self) -> list[list[bytes]]:
        """Every subtree's levels (or root), in submission order."""
        for w in range(len(self.procs)):
            self._collect(w)
        return [self.done[i] for i in range(self.submitted)]

    def close(self) -> None:
        for proc in self.procs:
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def serve(keep: bool) -> None:
    """The worker loop: subtrees from stdin, their levels or roots to stdout, until EOF."""
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    while header := inp.read(_REQUEST.size):
        segments, _ = _REQUEST.unpack(header)
        hashes: list[bytes] = []
        for _ in range(segments):
            n, size, width = _SEGMENT.unpack(_read(inp, _SEGMENT.size))
            raw = memoryview(_read(inp, (n + 1) * width))
            offsets = raw.cast("i") if width == 4 else raw.cast("q")
            hashes += hash_packed(_read(inp, size), offsets, offsets[0])
        payload = b"".join(subtree_levels(hashes, keep))
        out.write(_REPLY.pack(len(payload)))
        out.write(payload)
        out.flush()


if __name__ == "__main__":
    serve(sys.argv[1:] == ["keep"])
