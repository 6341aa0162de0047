"""SOAP power spectrum (Bartok, Kondor, Csanyi, PRB 87, 184115, 2013), computed in C++.

Neighbour density of L2-normalised Gaussians (width ``atom_sigma``) with the shifted-cosine cut-off of
width ``cutoff_width`` below ``r_cut``, centre atom included; featomic's GTO radial basis
(Musil et al., JCP 154, 114109, 2021: n_max functions, featomic's ``max_radial = n_max - 1``); real
spherical harmonics. The radial integrals (Kummer's 1F1) are tabulated with their derivatives and
interpolated by cubic Hermite splines, refined until the midpoint error is below 1e-10 of max |R_nl|
(``spline_error`` holds the value reached).

``radial_basis="equispaced"``: QUIP's soap radial basis (EQUISPACED_GAUSS, the GAP default and the basis of the LDR
paper's GAP): n_max Gaussians of width ``atom_sigma`` centred at k (r_c + atom_sigma sqrt(20 ln 10)) / n_max,
k = 0..n_max-1, orthonormalised through the Cholesky factor of their overlap, radial integrals from modified
spherical Bessel functions (derivation in cpp/descriptors/soap.cpp). With the same hyper-parameters the features
equal quippy's ``Descriptor("soap ...")`` (normalised or not) to ~1e-11 relative, up to the column order
(:meth:`SOAP.quip_order`) and QUIP's trailing covariance_sigma0 entry.

Layout: with channels a (one per species, or the groups of ``compression``) and the combined radial
index u = a n_max + n, feature (l, u, v), u <= v, sits at ``l * n_pairs + pair``, pairs in row-major
order of the upper triangle, value s_uv / sqrt(2l+1) sum_m c_ulm c_vlm with s_uu = 1, s_uv = sqrt(2)
(u != v). So p . p' is the SOAP overlap summed over all species pairs and radial pairs; with
``normalize=False`` it equals featomic's SoapPowerSpectrum dot products (to 1e-11 in the tests). Length
(l_max + 1) K (K + 1) / 2 with K = n_channels n_max: 27,412 for 11 elements, n_max 8, l_max 6.

Species compression: ``compression={element: channel}`` maps each element to a channel 0..C-1 (element
grouping, as QUIP's Z_map): atoms of the grouped elements are one density. For example
{"Li": 0, "O": 1, "Sc": 2, ..., "Cu": 2} gives 3 channels and 3,780 features for n_max 8, l_max 6.
"""

from __future__ import annotations

import numpy as np
from ase.data import chemical_symbols

from .. import _core
from ..elements import species_numbers
from .base import Descriptor

MAX_NMAX = _core.SOAP_MAX_NMAX
MAX_LMAX = _core.SOAP_MAX_LMAX


def _int_in(name, v, lo, hi):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
        raise ValueError(f"{name} must be an integer in {lo}..{hi}, got {v!r}")
    return int(v)


class SOAP(Descriptor):
    """SOAP(species, r_cut, n_max, l_max, atom_sigma, cutoff_width=0.5, radial_basis="gto",
    normalize=True, compression=None); ``.compute(data) -> [n_atoms, size]``; ``.names``."""

    def __init__(self, species, r_cut=5.0, n_max=8, l_max=6, atom_sigma=0.5, cutoff_width=0.5, radial_basis="gto",
                 normalize=True, compression=None):
        self.species = species_numbers(species)
        if not self.species:
            raise ValueError("species is empty")
        self.n_max = _int_in("n_max", n_max, 1, MAX_NMAX)
        self.l_max = _int_in("l_max", l_max, 0, MAX_LMAX)
        self.r_cut, self.atom_sigma, self.cutoff_width = float(r_cut), float(atom_sigma), float(cutoff_width)
        if not (np.isfinite(self.r_cut) and self.r_cut > 0):
            raise ValueError(f"r_cut must be positive, got {r_cut!r}")
        if not (np.isfinite(self.atom_sigma) and self.atom_sigma > 0):
            raise ValueError(f"atom_sigma must be positive, got {atom_sigma!r}")
        if not 0 <= self.cutoff_width < self.r_cut:
            raise ValueError(f"cutoff_width must be in [0, r_cut), got {cutoff_width!r}")
        if radial_basis not in ("gto", "equispaced"):
            raise ValueError(f"radial_basis must be 'gto' (featomic's GTO basis) or 'equispaced' (QUIP's equispaced "
                             f"Gaussians), got {radial_basis!r}")
        self.radial_basis = radial_basis
        self.normalize = bool(normalize)
        if compression is None:
            channel = list(range(len(self.species)))
        else:
            if not isinstance(compression, dict):
                raise ValueError("compression must be None or a dict {element: channel}")
            cmap = dict(zip(species_numbers(list(compression)), compression.values()))
            missing = [chemical_symbols[z] for z in self.species if z not in cmap]
            if missing:
                raise ValueError(f"compression has no channel for {missing}")
            channel = [int(cmap[z]) for z in self.species]
            if sorted(set(channel)) != list(range(max(channel) + 1)):
                raise ValueError(f"compression channels must be 0..C-1 with every channel used, got {sorted(set(channel))}")
        self.channel = channel
        self.compression = None if compression is None else {chemical_symbols[z]: c for z, c in zip(self.species, channel)}
        self._impl = _core.SoapDescriptor(self.species, channel, self.n_max, self.l_max, self.r_cut, self.atom_sigma,
                                          self.cutoff_width, self.normalize, radial_basis)

    @property
    def spline_error(self) -> float:
        return self._impl.spline_error

    @property
    def channel_names(self) -> list[str]:
        n = max(self.channel) + 1
        return ["+".join(chemical_symbols[z] for z, c in zip(self.species, self.channel) if c == k) for k in range(n)]

    @property
    def names(self) -> list[str]:
        """'A-B n1,n2 l' per feature (A, B the channels: element symbols, or groups joined by '+')."""
        ch, N = self.channel_names, self.n_max
        K = len(ch) * N
        pairs = [(u, v) for u in range(K) for v in range(u, K)]
        return [f"{ch[u // N]}-{ch[v // N]} n={u % N},{v % N} l={l}" for l in range(self.l_max + 1) for u, v in pairs]

    def quip_order(self) -> np.ndarray:
        """Column order of QUIP's soap descriptor: ``G[:, desc.quip_order()]`` is quippy's
        ``Descriptor("soap ... species_Z={...}").calc(atoms)["data"]`` without its last (covariance_sigma0) entry,
        for the same channels in the same order. QUIP stores feature (pair, l) at pair (l_max + 1) + l, pairs (u, v)
        with v <= u in row-major order of the lower triangle; the values and weights are the same."""
        K = (max(self.channel) + 1) * self.n_max
        npair = K * (K + 1) // 2
        out = []
        for u in range(K):
            for v in range(u + 1):
                pair = v * K - v * (v - 1) // 2 + (u - v)   # ldrx pair (v, u), v <= u
                out.append([l * npair + pair for l in range(self.l_max + 1)])
        return np.asarray(out, dtype=np.int64).reshape(-1)

    def params(self) -> dict:
        return dict(species=self.species, r_cut=self.r_cut, n_max=self.n_max, l_max=self.l_max,
                    atom_sigma=self.atom_sigma, cutoff_width=self.cutoff_width, radial_basis=self.radial_basis,
                    normalize=self.normalize, compression=self.compression)
