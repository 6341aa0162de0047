"""Short-range repulsive baselines added to a model's predictions (shared by every family through
:class:`~ldrx.models.base.Model`; the setting ``repulsion``):

- ``"wall"`` (the default, :class:`PairWall`): a steep C2 pair wall below the training set's shortest
  distance of each species pair: exactly zero on every training frame, so fits and their figures on the
  training data are unchanged; it stops atoms passing through each other in MD where the model extrapolates.
- ``"zbl"`` (opt-in, :class:`ZBLBaseline`): the ZBL universal screened nuclear repulsion, switched off
  smoothly below the shortest distance of each species pair in the training set (below).
- ``None`` / ``"none"``: off.

The wall is only as good as the training set's shortest distances: one frame with an impossible geometry
sets it where it does nothing. ``ldrx.read`` therefore refuses (or, with ``on_error="skip"``, leaves out)
frames with two atoms closer than half the sum of their covalent radii; in the bundled LDR sample these are
954.xsf (Li-Ni 0.66 Å, O-O 1.10 Å, with an ordinary DFT energy) and 13.xsf (Li-Mn 0.77 Å). With 954.xsf in
the training set the wall sat at 0.66-1.10 Å for Li-Ni, Li-O and O-O and did not keep the default ANN or
SNAP physical in 300 K NVT (both failed within 0.11 ps on exactly those pairs). With it refused, the
default SNAP stays physical for 10 ps with the wall and not without it; an ANN trained on forces no longer
collapses. No baseline makes an ANN fitted on the sample alone physical: it is 2-9x softer than SNAP at the
DFT structure, because the sample holds no thermally displaced frames, and a Δ-learned ZBL under it (non-zero
on the training frames) does not change that; with rattled frames added it is physical for 10 ps with the
wall (``bench/md_stability.py``, README *Models in MD*). On test frames with pairs closer than any training frame the wall moves energies
towards DFT and forces away from it (``bench/wall_accuracy.py``).

ZBL:

    E_ZBL(r) = Z_a Z_b e^2 / (4 pi eps0 r) * phi(r / a),   a = 0.8854 a_0 / (Z_a^0.23 + Z_b^0.23)
    phi(x)   = 0.18175 e^{-3.19980 x} + 0.50986 e^{-0.94229 x} + 0.28022 e^{-0.40290 x} + 0.02817 e^{-0.20162 x}

(Ziegler, Biersack, Littmark, "The Stopping and Range of Ions in Solids", Pergamon 1985), multiplied by
a C2 switch S(t) = 1 - 10 t^3 + 15 t^4 - 6 t^5, t = (r - r_inner) / (r_outer - r_inner), that is 1 below
r_inner = 0.6 r_outer and 0 above r_outer. r_outer of a species pair is the shortest distance of that
pair in the training set (``DOMAIN_CUTOFF`` for pairs never that close), so the baseline is zero on every
training frame and the fitted model is unchanged on its data: it acts only where the model extrapolates
(atoms pushed closer than in any training frame), where machine-learned potentials are often attractive
and MD collapses. Families subtract it from the targets at fit time (a no-op with this switch, kept so
that any baseline works) and add it at prediction (both in :class:`~ldrx.models.base.Model`); it is saved
in the model file and switched off with ``repulsion=None``.

Leaving out outlier frames when choosing r_outer (``outlier_fraction``) makes the baseline non-zero on
them, and subtracting it there is harmful: LDR 954.xsf (now refused by ``ldrx.read``) has Li-O at 0.94 Å
and Li-Ni at 0.66 Å with an ordinary DFT energy, so its target would drop by some 100 eV, and an
energies-only ANN trained on the sample that way had test* errors of 120 meV/atom and 4.0 eV/Å (52 and
0.97 with every frame kept). The default keeps every frame (0).

Energy, forces and virial are analytic (one pass over a full neighbour list per frame, vectorised numpy).
"""

from __future__ import annotations

import numpy as np

from .. import _core

COULOMB = 14.3996454784255   # e^2 / (4 pi eps0), eV Å (CODATA 2018)
ZBL_LENGTH = 0.46850         # 0.8854 a_0, Å
PHI_C = np.array([0.18175, 0.50986, 0.28022, 0.02817])
PHI_D = np.array([3.19980, 0.94229, 0.40290, 0.20162])
INNER_FRACTION = 0.6         # r_inner = INNER_FRACTION * r_outer: full ZBL below, switched off at r_outer
OUTLIER_FRACTION = 0.0       # r_outer may leave out this fraction of the training frames with the closest pair


def zbl(r, z1, z2):
    """ZBL pair energy (eV) and its derivative dE/dr (eV/Å) at distances r (Å) of atoms with charges z1, z2."""
    r = np.asarray(r, float)
    a = ZBL_LENGTH / (np.power(z1, 0.23) + np.power(z2, 0.23))
    x = r[..., None] / np.asarray(a, float)[..., None]
    ex = PHI_C * np.exp(-PHI_D * x)
    phi = ex.sum(-1)
    dphi = -(ex * PHI_D).sum(-1) / a
    k = COULOMB * np.asarray(z1, float) * np.asarray(z2, float)
    e = k * phi / r
    return e, k * (dphi / r - phi / (r * r))


def switch(r, r_inner, r_outer):
    """C2 switch (1 below r_inner, 0 above r_outer) and its derivative."""
    w = r_outer - r_inner
    t = np.clip((r - r_inner) / w, 0.0, 1.0)
    s = 1.0 - t ** 3 * (10.0 - 15.0 * t + 6.0 * t * t)
    ds = -30.0 * t * t * (1.0 - t) ** 2 / w
    return s, ds


class ZBLBaseline:
    """ZBL repulsion between every pair of `species` (atomic numbers), switched off between
    r_inner[a, b] and r_outer[a, b] (Å, symmetric [S, S])."""

    kind = "zbl"

    def __init__(self, species, r_inner, r_outer):
        self.species = [int(z) for z in species]
        self.r_inner = np.asarray(r_inner, float)
        self.r_outer = np.asarray(r_outer, float)
        S = len(self.species)
        if self.r_inner.shape != (S, S) or self.r_outer.shape != (S, S):
            raise ValueError(f"r_inner and r_outer must be {S} x {S}")
        if not (np.all(self.r_inner >= 0) and np.all(self.r_outer > self.r_inner)):
            raise ValueError("ZBL switch needs 0 <= r_inner < r_outer for every species pair")
        self.cutoff = float(self.r_outer.max())

    @classmethod
    def from_training_distances(cls, species, frame_min_distance, default_outer, inner_fraction=INNER_FRACTION,
                                outlier_fraction=OUTLIER_FRACTION):
        """Switched off at the training set's shortest distance of each species pair, from the per-frame
        shortest distances [N, S, S] (inf where a frame has no such pair within `default_outer`), leaving
        out the `outlier_fraction` of the frames with the closest pair (floor of it: none below 1 /
        outlier_fraction frames). Pairs never closer than `default_outer` switch off there."""
        d = np.asarray(frame_min_distance, float)
        S = len(species)
        outer = np.full((S, S), float(default_outer))
        for a in range(S):
            for b in range(S):
                v = np.sort(d[:, a, b][np.isfinite(d[:, a, b])])
                if v.size:
                    outer[a, b] = min(v[int(outlier_fraction * v.size)], default_outer)
        outer = np.minimum(outer, outer.T)
        return cls(species, inner_fraction * outer, outer)

    def __repr__(self):
        from ase.data import chemical_symbols as cs
        S = len(self.species)
        k = np.unravel_index(np.argmin(self.r_outer), self.r_outer.shape)
        return (f"ZBL repulsion ({S} species, switched off between {self.r_inner.min():.2f}-{self.r_inner.max():.2f}"
                f" and {self.r_outer.min():.2f}-{self.r_outer.max():.2f} Å; shortest "
                f"{cs[self.species[k[0]]]}-{cs[self.species[k[1]]]})")

    def state(self):
        return {"kind": self.kind, "species": self.species}, {"r_inner": self.r_inner, "r_outer": self.r_outer}

    @classmethod
    def from_state(cls, meta, arrays):
        if meta.get("kind") != cls.kind:
            raise ValueError(f"unknown repulsive baseline {meta.get('kind')!r}")
        return cls(meta["species"], arrays["r_inner"], arrays["r_outer"])

    def pair(self, r, a, b):
        """Energy and dE/dr of pairs at distances r (below r_outer) of species indices a, b."""
        z = np.asarray(self.species, float)
        e, de = zbl(r, z[a], z[b])
        s, ds = switch(r, self.r_inner[a, b], self.r_outer[a, b])
        return e * s, de * s + e * ds

    def __call__(self, data, forces=True, virial=True):
        """(energy [N] eV, forces [n_atoms, 3] eV/Å or None, virial [N, 6] eV or None) of a Dataset."""
        return pair_sum(self, data, forces, virial)


def pair_sum(baseline, data, forces=True, virial=True):
    """Sum of the pair terms ``baseline.pair(r, a, b)`` over every pair closer than ``baseline.r_outer[a, b]``
    (species indices a, b into ``baseline.species``; ``baseline.cutoff`` = r_outer.max()):
    (energy [N] eV, forces [n_atoms, 3] eV/Å or None, virial [N, 6] eV or None) of a Dataset.
    The virial is W = sum over pairs d (x) F, Voigt xx yy zz yz xz xy, as the descriptors' backward."""
    N = len(data)
    energy = np.zeros(N)
    F = np.zeros((data.n_atoms, 3)) if forces else None
    W = np.zeros((N, 6)) if virial else None
    index = np.full(119, -1)
    index[baseline.species] = np.arange(len(baseline.species))
    batch = data.batch()
    for f in range(N):
        a0, a1 = int(data.offsets[f]), int(data.offsets[f + 1])
        start, nb, vec, dist, _ = _core.neighbour_list(batch, f, baseline.cutoff)
        if len(nb) == 0:
            continue
        si = index[data.numbers[a0:a1]]
        i = np.repeat(np.arange(a1 - a0), np.diff(start))
        a, b = si[i], si[nb]
        near = dist < baseline.r_outer[a, b]
        if not near.any():
            continue
        i, j, a, b, r, v = i[near], nb[near], a[near], b[near], dist[near], vec[near]
        e, de = baseline.pair(r, a, b)
        # every pair appears twice in the full list: half of its energy from each side
        energy[f] = 0.5 * float(np.sum(e))
        gv = (0.5 * de / r)[:, None] * v        # dE/d(vec) of this directed entry, vec = r_j - r_i
        if forces:
            Ff = F[a0:a1]
            np.add.at(Ff, i, gv)
            np.add.at(Ff, j, -gv)
        if virial:
            # W = sum d (x) F_j with F_j = -dE/d(vec)
            W[f] = -np.array([np.sum(v[:, 0] * gv[:, 0]), np.sum(v[:, 1] * gv[:, 1]), np.sum(v[:, 2] * gv[:, 2]),
                              np.sum(v[:, 1] * gv[:, 2]), np.sum(v[:, 0] * gv[:, 2]), np.sum(v[:, 0] * gv[:, 1])])
    return energy, F, W


WALL_ENERGY = 1.0     # eV: the wall's energy WALL_DEPTH inside r_wall
WALL_DEPTH = 0.2      # Å
UNSEEN_FRACTION = 0.75  # r_wall of a pair never closer than DOMAIN_CUTOFF in training: this x covalent radii sum


class PairWall:
    """Data-derived short-range wall (``repulsion="wall"``, the default): for each species
    pair (a, b) with wall radius r_wall[a, b] (Å, symmetric [S, S]),

        E(r) = WALL_ENERGY * ((r_wall - r) / WALL_DEPTH)^3   for r < r_wall,   0 otherwise,

    so 1 eV at 0.2 Å inside r_wall, 8 eV at 0.4 Å (force 15 and 60 eV/Å), C2 (zero value, slope and curvature)
    at r_wall. r_wall of a pair is the shortest distance of that pair in the training set, so the wall is
    exactly zero on every training frame (every fitted number is unchanged); pairs never closer than
    ``DOMAIN_CUTOFF`` in the training set get ``UNSEEN_FRACTION`` x the sum of the two elements' covalent
    radii (ase.data.covalent_radii, Cordero et al., Dalton Trans. 2008), at most DOMAIN_CUTOFF. It acts only
    where the model extrapolates to atoms closer than any training frame had them."""

    kind = "wall"

    def __init__(self, species, r_wall, energy=WALL_ENERGY, depth=WALL_DEPTH):
        self.species = [int(z) for z in species]
        self.r_outer = np.asarray(r_wall, float)
        self.energy, self.depth = float(energy), float(depth)
        S = len(self.species)
        if self.r_outer.shape != (S, S) or not np.all(np.isfinite(self.r_outer)) or np.any(self.r_outer < 0):
            raise ValueError(f"r_wall must be a finite, non-negative {S} x {S} array")
        if not np.array_equal(self.r_outer, self.r_outer.T):
            raise ValueError("r_wall must be symmetric")
        if not (self.energy > 0 and self.depth > 0):
            raise ValueError("wall energy and depth must be > 0")
        self.cutoff = float(self.r_outer.max())

    @property
    def r_wall(self):
        return self.r_outer

    @classmethod
    def from_min_distance(cls, species, min_distance, cutoff):
        """From the training set's shortest distance per species pair [S, S] (inf where none within
        `cutoff`); unseen pairs by the covalent-radius rule."""
        from ase.data import covalent_radii
        d = np.array(min_distance, float)
        rc = covalent_radii[np.asarray(species, int)]
        rule = np.minimum(UNSEEN_FRACTION * (rc[:, None] + rc[None, :]), cutoff)
        d = np.where(np.isfinite(d), d, rule)
        return cls(species, np.minimum(d, d.T))

    def pair(self, r, a, b):
        x = (self.r_outer[a, b] - r) / self.depth
        return self.energy * x ** 3, -3.0 * self.energy * x * x / self.depth

    def __call__(self, data, forces=True, virial=True):
        """(energy [N] eV, forces [n_atoms, 3] eV/Å or None, virial [N, 6] eV or None) of a Dataset."""
        return pair_sum(self, data, forces, virial)

    def __repr__(self):
        from ase.data import chemical_symbols as cs
        k = np.unravel_index(np.argmin(self.r_outer), self.r_outer.shape)
        return (f"pair wall ({len(self.species)} species, {self.energy:g} eV at {self.depth:g} Å inside the training "
                f"set's shortest pair distances, {self.r_outer.min():.2f}-{self.r_outer.max():.2f} Å; shortest "
                f"{cs[self.species[k[0]]]}-{cs[self.species[k[1]]]})")

    def state(self):
        return ({"kind": self.kind, "species": self.species, "energy": self.energy, "depth": self.depth},
                {"r_wall": self.r_outer})

    @classmethod
    def from_state(cls, meta, arrays):
        if meta.get("kind") != cls.kind:
            raise ValueError(f"unknown repulsive baseline {meta.get('kind')!r}")
        return cls(meta["species"], arrays["r_wall"], meta["energy"], meta["depth"])


KINDS = {"wall": PairWall, "zbl": ZBLBaseline}
DEFAULT = "wall"


def check_kind(kind):
    """The repulsion setting normalised: "wall" (the default), "zbl", or None (off; also "none")."""
    if kind is None or (isinstance(kind, str) and kind.lower() == "none"):
        return None
    if kind not in KINDS:
        raise ValueError(f"repulsion must be 'wall' (the default), 'zbl' or None ('none': off), got {kind!r}")
    return kind


def from_state(meta, arrays):
    """The baseline saved by ``state()`` (in a model file)."""
    kind = meta.get("kind")
    if kind not in KINDS:
        raise ValueError(f"unknown repulsive baseline {kind!r}")
    return KINDS[kind].from_state(meta, arrays)
