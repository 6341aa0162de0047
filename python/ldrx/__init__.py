"""ldrx: fast machine-learned interatomic potentials for configurationally complex oxides.

    import ldrx
    data = ldrx.read(ldrx.io.example_data_path(), on_error="skip")
    train, test = data.split(test_fraction=0.1, seed=0)
    model = ldrx.fit(train, model="ann", epochs=500)
    print(ldrx.evaluate.metrics(model, test))
"""

import os as _os

# OpenMP threads that reach a barrier spin before they sleep; libgomp's default (300,000 spins) makes every
# barrier slow when another process takes one of the cores: ANN prediction at 2 threads on a loaded 2-core
# machine took 847 µs/atom with libgomp's default, 221 with GOMP_SPINCOUNT=10000 and 83 with a passive wait
# policy (bench/threads_busy.py). Unless the user chose, threads wait passively. libgomp reads this when it
# loads, so it applies only if no other library loaded libgomp first (e.g. torch imported before ldrx).
if "OMP_WAIT_POLICY" not in _os.environ and "GOMP_SPINCOUNT" not in _os.environ:
    _os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

from ._dispatch import load_core as _load_core  # noqa: E402

_core = _load_core()  # the fastest build of the C++ core this CPU runs (see ldrx._dispatch)

from .data import Dataset
from .errors import DataError, ModelFileError
from .io import read
from . import descriptors, evaluate, io, models  # noqa: F401  (ldrx.evaluate.metrics, ...)

__version__ = "0.1.0"

__all__ = ["Dataset", "DataError", "ModelFileError", "read", "fit", "load", "set_num_threads",
           "get_num_threads", "__version__"]


def set_num_threads(n: int):
    """Threads of every later parallel region of the C++ core (OpenMP), whichever Python thread calls it.
    OMP_NUM_THREADS sets the initial value. ValueError for n < 1."""
    _core.set_num_threads(int(n))


def get_num_threads() -> int:
    return _core.get_num_threads()


def fit(data, model: str = "ann", comm=None, **hyper):
    """Fit a potential of the given family ('ann', 'snap', 'qsnap', ...) to a Dataset; returns the model.

    comm: an mpi4py communicator (e.g. ``MPI.COMM_WORLD``) for data-parallel training: `data` is then this
    rank's shard of the frames (the global set is the shards in rank order) and every rank gets the model
    that a serial fit on the global set gives (see ldrx.parallel)."""
    from .models import make_model
    m = make_model(model, **hyper)
    if comm is None:
        return m.fit(data)
    import inspect
    if "comm" not in inspect.signature(m.fit).parameters:
        raise ValueError(f"model family '{model}' does not train over MPI ranks (no comm= in its fit)")
    return m.fit(data, comm=comm)


def load(path):
    """Load any ldrx model file written by ``model.save(path)``."""
    from .models import load_model
    return load_model(path)
