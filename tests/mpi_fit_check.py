"""Run by tests/test_mpi.py under ``mpiexec -n N``: fit SNAP and ANN on rank shards of the bundled sample and
write the coefficients (rank 0) to an .npz, so the test can compare 1 rank with 2 ranks and with a serial fit.

    mpiexec -n 2 python tests/mpi_fit_check.py OUT.npz [FRAMES]
"""
import sys

import numpy as np

import ldrx
from ldrx.parallel import as_comm, read_shard

WJ = {s: 1.0 for s in ("Li", "O", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu")}


def fits(comm, n_frames):
    """The fits on this rank's shard (comm None: serially, on everything); the results as a dict."""
    c = as_comm(comm)
    data = read_shard(ldrx.io.example_data_path(), c, on_error="skip")
    # the first n_frames frames of the global set: shards in rank order
    counts = c.allgather(len(data))  # (serial: [len(data)])
    start = sum(counts[:c.rank])
    data = data[np.arange(len(data))[(np.arange(len(data)) + start) < n_frames]]
    train, valid = ldrx.parallel.split_shard(data, c, 0.2, seed=1)
    snap = ldrx.fit(train, model="snap", twojmax=4, rcutfac=4.0, chunk_frames=7, comm=comm, progress=False)
    qsnap = ldrx.fit(train, model="qsnap", twojmax=2, rcutfac=4.0, chunk_frames=5, comm=comm, progress=False)
    ann = ldrx.fit(train, model="ann", epochs=20, hidden=(4,), radial_order=4, angular_order=2,
                   radial_cutoff=5.0, angular_cutoff=4.0, force_weight=0.3, force_fraction=0.6,
                   progress=False, comm=comm, seed=2)
    annv = ldrx.models.ANN(epochs=8, hidden=(3,), radial_order=3, angular_order=1, radial_cutoff=4.5,
                           angular_cutoff=3.5, progress=False, seed=5).fit(train, valid, comm=comm)
    m = ldrx.evaluate.metrics(ann, valid, comm=comm)
    return dict(snap=snap.coefficients, qsnap=qsnap.coefficients, ann=ann.theta, ann_mean=ann.feature_mean,
                ann_std=ann.feature_std, annv=annv.theta, annv_best=annv.best_epoch,
                valid_e=m["energy_rmse_meV_per_atom"], valid_f=m["forces_rmse_eV_per_A"], ranks=c.size)


def main(out, n_frames):
    from mpi4py import MPI
    res = fits(MPI.COMM_WORLD, n_frames)
    if MPI.COMM_WORLD.Get_rank() == 0:
        np.savez(out, **res)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 80)
