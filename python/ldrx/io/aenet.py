"""aenet's binary network files (``.nn``): Fortran sequential unformatted records.

Layout (aenet 2.0.4, ``src/ext/feedforward.f90``, ``src/sfsetup.f90``, ``src/trainset.f90``): every record is
framed by 4-byte little-endian lengths; integers are int32, reals float64, logicals 4 bytes; strings
are fixed-length (species 2 characters, paths and descriptions 1024, basis type 100).

    network (9 records)  nlayers; nnodes_max; Wsize; nvalues; nnodes(nl); f_a(2:nl); iw(nl); iv(nl); W(Wsize)
    setup (17 records)   description; atomtype; nenv; envtypes; Rc_min; Rc_max; sftype; nsf; nsfparam;
                         sf(nsf); sfparam(nsfparam, nsf); sfenv(2, nsf); neval; sfval_min; sfval_max;
                         sfval_avg; sfval_cov (second moment)
    training set (10)    file; normalized; scale; shift; nTypes; typeName(nTypes); E_atom(nTypes);
                         nAtomsTot; nStrucs; (E_min, E_max, E_av)

Chebyshev setups keep (radial_Rc, radial_N, angular_Rc, angular_N) in sfparam(:, 1).
"""

from __future__ import annotations

import struct

import numpy as np

from .._files import atomic_write
from ..errors import ModelFileError


class _Records:
    def __init__(self, data: bytes, path):
        self.data, self.pos, self.path = data, 0, path

    def raw(self) -> bytes:
        d = self.data
        if self.pos + 4 > len(d):
            raise ModelFileError(f"{self.path}: truncated aenet file (record expected at byte {self.pos})")
        n = struct.unpack_from("<i", d, self.pos)[0]
        end = self.pos + 4 + n
        if n < 0 or end + 4 > len(d) or struct.unpack_from("<i", d, end)[0] != n:
            raise ModelFileError(f"{self.path}: corrupt Fortran record at byte {self.pos}")
        rec = d[self.pos + 4:end]
        self.pos = end + 4
        return rec

    def ints(self):
        return np.frombuffer(self.raw(), "<i4").astype(np.int64)

    def int(self):
        return int(self.ints()[0])

    def reals(self):
        return np.frombuffer(self.raw(), "<f8").copy()

    def real(self):
        return float(self.reals()[0])

    def text(self):
        return self.raw().decode("ascii", "replace")

    def check_count(self, n, what):
        if not 0 <= n <= len(self.data):
            raise ModelFileError(f"{self.path}: implausible {what} ({n})")
        return n


def read_nn(path) -> dict:
    """Parse one aenet ``.nn`` file into a dict (network, setup, training-set info). Any problem with the
    file is a ModelFileError that names it."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read the aenet network file ({exc})") from exc
    try:
        return _parse_nn(_Records(data, str(path)), path)
    except ModelFileError:
        raise
    except (ValueError, IndexError, TypeError, OverflowError, struct.error) as exc:
        raise ModelFileError(f"{path}: malformed aenet network file ({type(exc).__name__}: {exc})") from exc


def _parse_nn(r: "_Records", path) -> dict:
    out = {}
    nl = r.check_count(r.int(), "number of layers")
    r.int()  # nnodes_max
    wsize = r.check_count(r.int(), "number of weights")
    r.int()  # nvalues
    out["nodes"] = r.ints().tolist()
    out["activations"] = r.ints().tolist()
    iw = r.ints()
    r.ints()  # iv
    out["weights"] = r.reals()
    if (nl < 2 or len(out["nodes"]) != nl or len(out["activations"]) != nl - 1 or len(out["weights"]) != wsize
            or len(iw) != nl or iw[-1] != wsize or min(out["nodes"]) < 1
            or wsize != sum(out["nodes"][l] * (out["nodes"][l - 1] + 1) for l in range(1, nl))):
        raise ModelFileError(f"{path}: inconsistent network records")
    out["description"] = r.text().strip()
    out["atomtype"] = r.text().strip()
    nenv = r.check_count(r.int(), "number of species")
    env = r.text()
    out["env"] = [env[2 * k:2 * k + 2].strip() for k in range(nenv)]
    out["rc_min"], out["rc_max"] = r.real(), r.real()
    out["sftype"] = r.text().strip()
    nsf = r.int()
    nsfparam = r.int()
    r.ints()  # sf
    sfparam = r.reals().reshape(nsf, nsfparam)  # Fortran (nsfparam, nsf) column-major
    if nsf != out["nodes"][0]:
        raise ModelFileError(f"{path}: {nsf} descriptor functions but {out['nodes'][0]} network inputs")
    r.ints()  # sfenv
    r.int()  # neval
    r.reals()  # min
    r.reals()  # max
    out["sf_avg"] = r.reals()
    out["sf_cov"] = r.reals()
    if len(out["sf_avg"]) != nsf or len(out["sf_cov"]) != nsf:
        raise ModelFileError(f"{path}: feature statistics do not match the {nsf} descriptor functions")
    out["nsf"] = nsf
    if out["sftype"].lower().startswith("chebyshev"):
        rr, nr, ra, na = sfparam[0][:4]
        out["chebyshev"] = dict(radial_cutoff=float(rr), radial_order=int(round(nr)),
                                angular_cutoff=float(ra), angular_order=int(round(na)))
    r.text()  # training-set file
    out["normalized"] = r.int() != 0
    out["scale"], out["shift"] = r.real(), r.real()
    ntypes = r.int()
    names = r.text()
    out["types"] = [names[2 * k:2 * k + 2].strip() for k in range(ntypes)]
    out["e_atom"] = r.reals().tolist()
    if len(out["e_atom"]) != ntypes:
        raise ModelFileError(f"{path}: {ntypes} species but {len(out['e_atom'])} atomic energies")
    out["n_atoms_total"] = r.int()
    out["n_structures"] = r.int()
    out["e_min"], out["e_max"], out["e_av"] = r.reals().tolist()
    if r.pos != len(r.data):
        raise ModelFileError(f"{path}: unexpected data after the last record")
    return out


class _Writer:
    def __init__(self):
        self.parts = []

    def rec(self, payload: bytes):
        n = struct.pack("<i", len(payload))
        self.parts += [n, payload, n]

    def ints(self, v):
        self.rec(np.asarray(v, "<i4").tobytes())

    def reals(self, v):
        self.rec(np.asarray(v, "<f8").tobytes())

    def text(self, s, width):
        self.rec(s.ljust(width)[:width].encode("ascii"))

    def names(self, v):
        self.rec("".join(x.ljust(2)[:2] for x in v).encode("ascii"))


def write_nn(path, nodes, activations, weights, atomtype, env, chebyshev: dict, sf_avg, sf_cov, scale, shift,
             types, e_atom, n_atoms_total=0, n_structures=0, e_stats=(0.0, 0.0, 0.0), rc_min=0.55,
             description="written by ldrx"):
    """Write an aenet ``.nn`` file (Chebyshev setup) that aenet's predict.x and aenetLib read."""
    w = _Writer()
    nodes = [int(n) for n in nodes]
    nl = len(nodes)
    iw, iv = [0], [0]
    for l in range(1, nl):
        iw.append(iw[-1] + nodes[l] * (nodes[l - 1] + 1))
        iv.append(iv[-1] + nodes[l - 1] + 1)
    nvalues = iv[-1] + nodes[-1]
    weights = np.asarray(weights, float)
    if len(weights) != iw[-1]:
        raise ValueError("weights do not match the layer sizes")
    w.ints([nl]); w.ints([max(nodes)]); w.ints([iw[-1]]); w.ints([nvalues])
    w.ints(nodes); w.ints(activations); w.ints(iw); w.ints(iv); w.reals(weights)
    nsf = len(sf_avg)
    rc_max = max(chebyshev["radial_cutoff"], chebyshev["angular_cutoff"])
    w.text(description, 1024); w.text(atomtype, 2); w.ints([len(env)]); w.names(env)
    w.reals([rc_min]); w.reals([rc_max]); w.text("Chebyshev", 100); w.ints([nsf]); w.ints([4])
    w.ints(np.zeros(nsf, int))
    sfparam = np.zeros((nsf, 4))
    sfparam[0] = [chebyshev["radial_cutoff"], chebyshev["radial_order"], chebyshev["angular_cutoff"],
                  chebyshev["angular_order"]]
    w.reals(sfparam.reshape(-1)); w.ints(np.zeros(2 * nsf, int)); w.ints([0])
    w.reals(np.zeros(nsf)); w.reals(np.zeros(nsf)); w.reals(sf_avg); w.reals(sf_cov)
    w.text("ldrx", 1024); w.ints([1]); w.reals([scale]); w.reals([shift]); w.ints([len(types)]); w.names(types)
    w.reals(e_atom); w.ints([n_atoms_total]); w.ints([n_structures]); w.reals(list(e_stats))
    data = b"".join(w.parts)
    atomic_write(path, lambda f: f.write(data))
