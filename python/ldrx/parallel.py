"""Data parallelism over MPI ranks, shared by every model family.

``ldrx.fit(shard, model=..., comm=MPI.COMM_WORLD)`` (or ``mpiexec -n N ldrx fit ...``): each rank holds a shard of
the frames. The global data set is the concatenation of the shards in rank order; a fit depends only on that
global set, not on the number of ranks, to the last bit:

* Reductions have leaves: fixed chunks of the global frame order (ANN: about 512 atoms; SNAP: ``chunk_frames``
  frames), whose bounds depend only on global counts. :func:`redistribute` moves frames so that each rank owns
  whole consecutive chunks, and each chunk's partial sum is computed by one rank, the same way whatever the rank.
* Partial sums are combined by :func:`ordered_sum` along one fixed binary tree over the chunk indices (node
  (h, j) = node (h-1, 2j) + node (h-1, 2j+1)). Floating-point addition is not associative, so the tree, not the
  ranks, fixes the order: a rank adds the complete subtrees it owns, and the O(log K) incomplete ones at its
  edges are finished in the same tree order by whoever receives them. One process takes the same path, so
  ``mpiexec -n 2`` equals a serial fit bit for bit, and each rank sends O(log K) partial sums, not K.
* Small per-frame quantities (compositions for the reference energies, validation errors) are gathered in rank
  order, so the serial code runs on exactly the serial arrays.

``comm=None`` gives :data:`SERIAL`, a communicator of one rank whose collectives return at once, so every family
runs the same code with or without MPI; mpi4py is needed only for real communicators (``pip install ldrx[mpi]``).
Only rank 0 writes files and shows progress (:attr:`Comm.is_root`). An exception on one rank inside
:meth:`Comm.check` is raised on every rank, so no rank waits forever in a collective the failed one never reaches.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["Comm", "SERIAL", "as_comm", "chunk_bounds", "owned_chunks", "redistribute", "ordered_sum",
           "gather_concat", "RemoteError"]


class RemoteError(RuntimeError):
    """Another rank failed; its message is repeated here."""


class Comm:
    """A communicator of one rank (the serial case) and the interface of :class:`MPIComm`."""

    rank = 0
    size = 1
    #: seconds spent in collectives (for benchmarks: communication time)
    comm_time = 0.0

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def allgather(self, obj):
        """[obj of rank 0, obj of rank 1, ...] on every rank (pickled)."""
        return [obj]

    def bcast(self, obj, root=0):
        return obj

    def gather(self, obj, root=0):
        """The list on `root`, None elsewhere."""
        return [obj]

    def send(self, obj, dest):  # pragma: no cover - only for size > 1
        raise RuntimeError("a serial communicator has no other rank")

    def recv(self, source):  # pragma: no cover - only for size > 1
        raise RuntimeError("a serial communicator has no other rank")

    def alltoall(self, objs):
        return list(objs)

    def barrier(self):
        pass

    def allreduce_min(self, x):
        return x

    def allreduce_max(self, x):
        return x

    def abort(self, code=1):
        raise SystemExit(code)

    def check(self, fn, *args, **kwargs):
        """fn(*args, **kwargs) on every rank; if it raises on any rank, every rank raises: the failed rank its
        own exception, the others RemoteError with the first failure's message (naming the rank). Such
        exceptions carry ``collective = True``: every rank knows, and none waits for the others."""
        try:
            out, err = fn(*args, **kwargs), None
        except Exception as exc:  # noqa: BLE001 - re-raised below on every rank
            out, err = None, exc
        if self.size == 1:
            if err is not None:
                raise err
            return out
        msgs = self.allgather(None if err is None else f"{type(err).__name__}: {err}")
        if err is not None:
            err.collective = True
            raise err
        for r, m in enumerate(msgs):
            if m is not None:
                exc = RemoteError(f"rank {r} failed: {m}")
                exc.collective = True
                raise exc
        return out


SERIAL = Comm()


class MPIComm(Comm):
    """An mpi4py communicator behind the :class:`Comm` interface (pickle-based collectives: the data that
    travel are partial sums and small per-frame arrays)."""

    def __init__(self, comm):
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.comm_time = 0.0

    def _timed(self, fn, *args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.comm_time += time.perf_counter() - t

    def allgather(self, obj):
        return self._timed(self.comm.allgather, obj)

    def bcast(self, obj, root=0):
        return self._timed(self.comm.bcast, obj, root=root)

    def gather(self, obj, root=0):
        return self._timed(self.comm.gather, obj, root=root)

    def send(self, obj, dest):
        return self._timed(self.comm.send, obj, dest=dest)

    def recv(self, source):
        return self._timed(self.comm.recv, source=source)

    def alltoall(self, objs):
        return self._timed(self.comm.alltoall, list(objs))

    def barrier(self):
        self._timed(self.comm.Barrier)

    def allreduce_min(self, x):
        return min(self.allgather(x))

    def allreduce_max(self, x):
        return max(self.allgather(x))

    def abort(self, code=1):
        self.comm.Abort(code)


def as_comm(comm) -> Comm:
    """None -> :data:`SERIAL`; a :class:`Comm` as it is; an mpi4py communicator -> :class:`MPIComm`."""
    if comm is None:
        return SERIAL
    if isinstance(comm, Comm):
        return comm
    if hasattr(comm, "Get_rank") and hasattr(comm, "allgather"):
        return MPIComm(comm)
    raise TypeError(f"comm must be None or an mpi4py communicator, got {type(comm).__name__}")


def world():
    """MPI.COMM_WORLD wrapped, when mpi4py is importable and more than one rank runs; else :data:`SERIAL`.
    (Importing mpi4py initialises MPI, so this is only called when a launcher's variables say so.)"""
    import os
    if not any(k in os.environ for k in ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK",
                                           "MPI_LOCALNRANKS", "SLURM_PROCID")):
        return SERIAL
    global _WORLD
    if _WORLD is None:
        try:
            from mpi4py import MPI
        except ImportError:
            return SERIAL
        c = MPI.COMM_WORLD
        _WORLD = SERIAL if c.Get_size() == 1 else MPIComm(c)
    return _WORLD


_WORLD = None


# ---------------------------------------------------------------------------------------------- chunks
def chunk_bounds(n_frames: int, n_atoms: int | None = None, atoms_per_chunk: int = 512, frames_per_chunk=None):
    """Frame bounds [K + 1] of the chunks of a global set: either `frames_per_chunk` frames each, or K =
    ceil(n_atoms / atoms_per_chunk) chunks of n_frames * k // K (the ANN trainer's rule)."""
    n_frames = int(n_frames)
    if frames_per_chunk is not None:
        b = list(range(0, n_frames, int(frames_per_chunk))) + [n_frames]
        return np.array(b if n_frames else [0], np.int64)
    K = max(1, min(n_frames, (int(n_atoms) + atoms_per_chunk - 1) // atoms_per_chunk))
    return np.array([n_frames * k // K for k in range(K + 1)], np.int64)


def owned_chunks(n_chunks: int, rank: int, size: int):
    """The consecutive chunks [k0, k1) that `rank` of `size` owns."""
    return n_chunks * rank // size, n_chunks * (rank + 1) // size


def global_counts(data, comm: Comm):
    """(frames, atoms) of every rank's shard, as two int arrays [size]."""
    counts = comm.allgather((len(data), int(data.n_atoms)))
    return np.array([c[0] for c in counts], np.int64), np.array([c[1] for c in counts], np.int64)


def redistribute(data, comm: Comm, bounds):
    """Move frames so that each rank owns whole consecutive chunks of the global order (bounds: global chunk
    bounds); returns (this rank's Dataset, its first chunk index, the local chunk bounds)."""
    from .data import Dataset
    K = len(bounds) - 1
    if K < comm.size and comm.is_root:
        import warnings
        warnings.warn(f"the data make {K} chunk(s) of work for {comm.size} MPI ranks: {comm.size - K} rank(s) idle "
                      f"(SNAP: lower chunk_frames)", stacklevel=3)
    k0, k1 = owned_chunks(K, comm.rank, comm.size)
    local_bounds = np.asarray(bounds[k0:k1 + 1], np.int64) - bounds[k0]
    if comm.size == 1:
        return data, k0, local_bounds
    frames, _ = global_counts(data, comm)
    start = int(frames[:comm.rank].sum())
    mine = np.arange(start, start + len(data))
    pieces = []
    for r in range(comm.size):
        a, b = owned_chunks(K, r, comm.size)
        lo, hi = bounds[a], bounds[b]
        pieces.append(data.subset(np.flatnonzero((mine >= lo) & (mine < hi))))
    got = comm.alltoall(pieces)
    out = Dataset.concatenate(got)
    out.skipped = list(data.skipped)
    return out, k0, local_bounds


# ---------------------------------------------------------------------------------------------- ordered sums
class _TreeStack:
    """Partial sums of the fixed binary tree over leaves 0..K-1, fed leaves (or finished nodes) left to right.
    Entries are (level, index, value): node (h, j) covers leaves [j 2^h, (j + 1) 2^h)."""

    def __init__(self):
        self.stack = []

    def push(self, level, index, value):
        self.stack.append((level, index, value))
        while len(self.stack) >= 2:
            h1, j1, v1 = self.stack[-1]
            h0, j0, v0 = self.stack[-2]
            if h0 == h1 and j0 % 2 == 0 and j1 == j0 + 1:
                self.stack[-2:] = [(h0 + 1, j0 // 2, v0 + v1)]
            else:
                break

    def total(self):
        """The sum of everything pushed, folding the unfinished nodes from the right (fixed by K alone)."""
        if not self.stack:
            return None
        acc = self.stack[-1][2]
        for _, _, v in reversed(self.stack[:-1]):
            acc = v + acc
        return acc


def ordered_sum(parts, first_chunk: int, comm: Comm = SERIAL, root=None):
    """Sum over all ranks of per-chunk partials, in the fixed tree order of the global chunk indices.

    parts: this rank's partials, one per chunk, for the consecutive global chunks first_chunk, first_chunk + 1,
    ... (an array [k, ...] or a list of arrays; ranks in rank order must cover 0..K-1). Returns the total on every
    rank (root None) or on `root` (None elsewhere): the same bits whatever the number of ranks."""
    st = _TreeStack()
    for i, p in enumerate(parts):
        st.push(0, first_chunk + i, np.array(p, dtype=float, copy=True))
    if comm.size == 1:
        return st.total()
    if root is None:
        stacks = comm.allgather(st.stack)
    else:
        stacks = comm.gather(st.stack, root=root)
        if comm.rank != root:
            return None
    full = _TreeStack()
    for s in stacks:
        for level, index, value in s:
            full.push(level, index, value)
    return full.total()


def gather_concat(arrays, comm: Comm, root=None):
    """np.concatenate of every rank's array in rank order, on every rank (root None) or on `root`."""
    if comm.size == 1:
        return np.asarray(arrays)
    parts = comm.allgather(arrays) if root is None else comm.gather(arrays, root=root)
    return None if parts is None else np.concatenate(parts)


# ---------------------------------------------------------------------------------------------- reading shards
def read_shard(path, comm: Comm, **read_kwargs):
    """This rank's shard of the frames of `path` (as :func:`ldrx.read` reads them, in the same order): a folder
    of XSF files is split by file index, so each rank reads only its files; other inputs are read whole by every
    rank and cut. The shards in rank order are the serial ``ldrx.read(path)``, bad frames skipped alike. A rank
    that fails to read raises on every rank (:meth:`Comm.check`)."""
    from pathlib import Path
    from .io import read
    p = Path(path)

    def _read():
        if comm.size > 1 and p.is_dir():
            from .io import _natural_key
            files = sorted((q for q in p.iterdir() if q.suffix.lower() == ".xsf"), key=_natural_key)
            a, b = owned_chunks(len(files), comm.rank, comm.size)
            from .data import Dataset
            return read([str(f) for f in files[a:b]], **read_kwargs) if b > a else Dataset.empty()
        data = read(path, **read_kwargs)
        a, b = owned_chunks(len(data), comm.rank, comm.size)
        return data if comm.size == 1 else data[a:b]
    return comm.check(_read)


def split_shard(data, comm: Comm, test_fraction=0.1, seed=0):
    """(train, test) shards of :meth:`Dataset.split` of the global set (the shards in rank order): the same
    frames, in the same global order, as a serial split."""
    if comm.size == 1:
        return data.split(test_fraction, seed)
    from .data import split_indices
    frames, _ = global_counts(data, comm)
    start = int(frames[:comm.rank].sum())
    train, test = split_indices(int(frames.sum()), test_fraction, seed)

    def mine(idx):
        return data.subset(idx[(idx >= start) & (idx < start + len(data))] - start)
    return mine(train), mine(test)


def gather_dataset(data, comm: Comm, root=0):
    """The shards concatenated in rank order, on `root` (None elsewhere)."""
    if comm.size == 1:
        return data
    from .data import Dataset
    parts = comm.gather(data, root=root)
    return None if parts is None else Dataset.concatenate(parts)


def run_cli(fn, comm: Comm):
    """Run a command-line action on every rank. An error raised on every rank (Comm.check) is printed once, by
    rank 0, and every rank returns 2; an error on one rank alone is printed by it and aborts all ranks
    (MPI_Abort), so none hangs in a collective the failed rank will never reach."""
    import sys
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - reported below
        if comm.size == 1:
            raise
        if getattr(exc, "collective", False):
            if comm.is_root:
                print(f"ldrx: error: {exc}", file=sys.stderr, flush=True)
            return 2
        print(f"ldrx: error on MPI rank {comm.rank}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        comm.abort(2)
