from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def ldr_sample():
    import warnings

    import ldrx
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="skipped 3 bad frame")  # the 3 broken LDR frames
        return ldrx.read(ldrx.io.example_data_path(), on_error="skip")


def random_frames(n_frames=6, n_atoms=(4, 20), species=(3, 8, 25, 28), seed=0, density=0.08,
                  pbc=(True, True, True), triclinic=True, min_dist=1.0):
    """Random cells (optionally triclinic) with atoms no closer than min_dist, as ASE Atoms."""
    from ase import Atoms
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_frames):
        n = int(rng.integers(*n_atoms))
        vol = n / density
        a = vol ** (1 / 3)
        cell = np.diag(rng.uniform(0.7, 1.3, 3)) * a
        if triclinic:
            cell += rng.uniform(-0.25, 0.25, (3, 3)) * a * (1 - np.eye(3))
        pos = []
        while len(pos) < n:
            p = rng.uniform(0, 1, 3) @ cell
            trial = Atoms("H" * (len(pos) + 1), positions=pos + [p], cell=cell, pbc=pbc)
            if len(pos) == 0 or trial.get_distances(len(pos), list(range(len(pos))), mic=True).min() > min_dist:
                pos.append(p)
        out.append(Atoms(numbers=rng.choice(species, n), positions=pos, cell=cell, pbc=pbc))
    return out
