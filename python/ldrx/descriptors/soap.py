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

Power-spectrum compression (Darby, Kermode, Csanyi, npj Comput. Mater. 8, 166, 2022; QUIP's soap ``nu_R``,
``nu_S``): of the two density factors of p, ``nu_S`` (0, 1, 2) keep their channel index and ``nu_R`` their radial
index; a factor that drops the channel uses the channel-summed (element-agnostic) density, one that drops n the
sum over n. (2, 2) is the full spectrum; ``nu_R=1, nu_S=1`` is Darby's "mu1nu1",
p^a_{nl} = sum_m c^a_{nlm} (sum_{b,n'} c^b_{n'lm}) / sqrt(2l+1), length C n_max (l_max+1) (616 for 11 elements,
n_max 8, l_max 6, instead of 27,412). Lengths per l (C channels, N = n_max):

    nu_R / nu_S   0             1          2
    0             1             C          C (C+1) / 2
    1             N             C N        C^2 N
    2             N (N+1) / 2   C N^2      C N (C N + 1) / 2

Combinable with ``compression`` (element grouping: C = number of groups). Layout l-major: feature (l, pair) at
``l * n_pairs + pair``; the factor keeping more indices ("B", rows i) and the other ("A", rows j), pairs (i, j)
in row-major order, weight 1; when both keep the same indices (nu_R, nu_S in {0, 2}) the upper triangle i <= j with
sqrt(2) off the diagonal. Rows are a N + n over the kept indices. The values equal quippy's soap with
``nu_R=.. nu_S=..`` (tests/test_soap.py) in the order :meth:`SOAP.quip_order`.
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
    normalize=True, compression=None, nu_R=2, nu_S=2); ``.compute(data) -> [n_atoms, size]``; ``.names``."""

    def __init__(self, species, r_cut=5.0, n_max=8, l_max=6, atom_sigma=0.5, cutoff_width=0.5, radial_basis="gto",
                 normalize=True, compression=None, nu_R=2, nu_S=2):
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
        self.nu_R = _int_in("nu_R (radial indices kept: 0, 1, 2)", nu_R, 0, 2)
        self.nu_S = _int_in("nu_S (species indices kept: 0, 1, 2)", nu_S, 0, 2)
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
                                          self.cutoff_width, self.normalize, radial_basis, self.nu_R, self.nu_S)

    @property
    def spline_error(self) -> float:
        return self._impl.spline_error

    @property
    def channel_names(self) -> list[str]:
        n = max(self.channel) + 1
        return ["+".join(chemical_symbols[z] for z, c in zip(self.species, self.channel) if c == k) for k in range(n)]

    def _factor_rows(self):
        """Labels of the rows of the two factors (B: keeps more indices, A), and whether the pairs are symmetric."""
        ch, N = self.channel_names, self.n_max

        def rows(keep_s, keep_n):
            ss = ch if keep_s else ["*"]
            ns = [str(n) for n in range(N)] if keep_n else ["*"]
            return [(s, n) for s in ss for n in ns]

        A = rows(self.nu_S == 2, self.nu_R == 2)
        B = rows(self.nu_S >= 1, self.nu_R >= 1)
        return B, A, self.nu_R != 1 and self.nu_S != 1

    def _pairs(self):
        B, A, sym = self._factor_rows()
        if sym:
            return [(u, v) for u in range(len(A)) for v in range(u, len(A))], B, A, sym
        return [(i, j) for i in range(len(B)) for j in range(len(A))], B, A, sym

    @property
    def names(self) -> list[str]:
        """'A-B n1,n2 l' per feature (A, B the channels: element symbols, or groups joined by '+'; '*' where the
        compression summed the index out: the element-agnostic density, or the sum over n)."""
        pairs, B, A, _ = self._pairs()
        return [f"{B[u][0]}-{A[v][0]} n={B[u][1]},{A[v][1]} l={l}" for l in range(self.l_max + 1) for u, v in pairs]

    def quip_order(self) -> np.ndarray:
        """Column order of QUIP's soap descriptor: ``G[:, desc.quip_order()]`` is quippy's
        ``Descriptor("soap ... species_Z={...} nu_R=.. nu_S=..").calc(atoms)["data"]`` without its last
        (covariance_sigma0) entry, for the same channels in the same order. QUIP stores feature (pair, l) at
        pair (l_max + 1) + l: for the symmetric spectra pairs (u, v) with v <= u in row-major order of the lower
        triangle, otherwise (i, j) in row-major order like ldrx; the values and weights are the same."""
        pairs, B, A, sym = self._pairs()
        npair = len(pairs)
        out = []
        if sym:
            K = len(A)
            for u in range(K):
                for v in range(u + 1):
                    pair = v * K - v * (v - 1) // 2 + (u - v)   # ldrx pair (v, u), v <= u
                    out.append([l * npair + pair for l in range(self.l_max + 1)])
        else:
            for pair in range(npair):
                out.append([l * npair + pair for l in range(self.l_max + 1)])
        return np.asarray(out, dtype=np.int64).reshape(-1)

    def params(self) -> dict:
        return dict(species=self.species, r_cut=self.r_cut, n_max=self.n_max, l_max=self.l_max,
                    atom_sigma=self.atom_sigma, cutoff_width=self.cutoff_width, radial_basis=self.radial_basis,
                    normalize=self.normalize, compression=self.compression, nu_R=self.nu_R, nu_S=self.nu_S)
