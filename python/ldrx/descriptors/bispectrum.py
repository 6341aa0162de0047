"""SNAP bispectrum components with LAMMPS ML-SNAP's conventions, computed in C++.

References: Thompson, Swiler, Trott, Foiles, Tucker, J. Comput. Phys. 285, 316 (2015) (SNAP); Wood and
Thompson, J. Chem. Phys. 148, 241721 (2018) (quadratic SNAP); Bartok, Payne, Kondor, Csanyi, Phys. Rev.
Lett. 104, 136403 (2010) (the bispectrum as an atomic-environment descriptor); Cusentino, Wood, Thompson,
J. Chem. Phys. 153, 094103 (2020) (the explicit multi-element bispectrum, ``chem``).
"""

from __future__ import annotations

import numpy as np
from ase.data import chemical_symbols

from .. import _core
from ..errors import DataError
from ..data import as_dataset
from ..elements import element_values, species_numbers
from .base import Descriptor

MAX_CUTOFF = _core.BISPECTRUM_MAX_CUTOFF
MAX_TWOJMAX = _core.BISPECTRUM_MAX_TWOJMAX


def check_twojmax(twojmax) -> int:
    """2J as an int: even, 0 <= 2J <= MAX_TWOJMAX. (LAMMPS also accepts odd 2J, i.e. half-integer J;
    ldrx refuses them: every published SNAP uses even 2J and the odd bands add no angular resolution
    that the next even 2J lacks.)"""
    if isinstance(twojmax, bool) or not isinstance(twojmax, (int, np.integer)):
        raise ValueError(f"twojmax must be an even integer, got {twojmax!r}")
    if twojmax < 0:
        raise ValueError(f"twojmax must be >= 0, got {twojmax}")
    if twojmax % 2:
        raise ValueError(f"twojmax must be even (it is 2J, twice the band limit), got {twojmax}")
    if twojmax > MAX_TWOJMAX:
        raise ValueError(f"twojmax above {MAX_TWOJMAX} is not supported (cost grows as J^5), got {twojmax}")
    return int(twojmax)


def chem_groups(chem, species):
    """The chemical groups of an explicit multi-element bispectrum: (group index per species, group names).

    chem     True: every element its own group (LAMMPS ``chemflag 1`` with the elements of pair_coeff);
             {element: label}: elements with the same label share a group (groups ordered by the first
             element, in `species` order, that names them); a list of groups, each an element or a list of
             elements, in that order ([["Li"], ["O"], ["Sc", "Ti", ...]]). Every element of `species` must be
             in exactly one group.
    species  atomic numbers, the descriptor's species order."""
    sym = [chemical_symbols[z] for z in species]
    if chem is True:
        return list(range(len(sym))), sym
    if isinstance(chem, dict):
        if not chem:
            raise ValueError("chem must not be an empty dict")
        labels = {chemical_symbols[z]: v for z, v in zip(species_numbers(list(chem)), chem.values())}
        names = []
        for s in sym:
            if s in labels and str(labels[s]) not in names:
                names.append(str(labels[s]))
        group = {s: (names.index(str(v)) if str(v) in names else -1) for s, v in labels.items()}
    elif isinstance(chem, (list, tuple)):
        group, names = {}, []
        for g, members in enumerate(chem):
            members = [members] if isinstance(members, (str, int, np.integer)) else list(members)
            if not members:
                raise ValueError(f"chem group {g} is empty")
            zs = species_numbers(members)
            for z in zs:
                if chemical_symbols[z] in group:
                    raise ValueError(f"chem: {chemical_symbols[z]} is in two groups")
                group[chemical_symbols[z]] = g
            names.append("+".join(chemical_symbols[z] for z in zs))
    else:
        raise ValueError(f"chem must be False, True, a dict {{element: group}} or a list of element groups, got {chem!r}")
    missing = [s for s in sym if s not in group]
    if missing:
        raise ValueError(f"chem has no group for {missing}")
    extra = sorted(set(group) - set(sym))
    if extra:
        raise ValueError(f"chem names elements {extra} that have no radelem")
    if len(set(group[s] for s in sym)) != len(names):
        raise ValueError("chem: every group must hold an element that has a radelem")
    return [group[s] for s in sym], names


class Bispectrum(Descriptor):
    """Bispectrum components B_{j1 j2 j} of each atom, exactly as LAMMPS ``compute sna/atom``.

    twojmax  2J, the band limit (even). 2J = 6 gives 30 components, 2J = 8 gives 55.
    rcutfac  the cut-off of the pair (i, k) is rcutfac * (radelem[i] + radelem[k]) (Å).
    rfac0    neighbours at distance r map to the polar angle theta0 = rfac0 pi (r - rmin0) / (rc - rmin0).
    rmin0    inner distance of that map and of the switching function.
    radelem  {element: R}, element symbols or atomic numbers; their order is the species order of the
             per-species outputs (force_rows), like the element list of LAMMPS's pair_coeff.
    wj       {element: w}, the weight of a neighbour of that element in the density; None: 1 for all.
    bzeroflag subtract B of an isolated atom, (j + 1) for the triple (j1, j2, j), so an isolated atom has B = 0.
    switchflag multiply each neighbour by the cosine switch 0.5 (cos(pi (r - rmin0)/(rc - rmin0)) + 1).

    chem     the explicit multi-element bispectrum (LAMMPS ``compute sna/atom ... chem``, Cusentino et al.
             2020): False (default) one density weighted by wj; True one density per element; a dict
             {element: group} or a list of element groups (see :func:`chem_groups`) one density per group,
             like the element map of LAMMPS's ``chem`` keyword. Each group g has its own density U_g
             (the centre's self term in its own group's), and B^{g1 g2 g3}_{j1 j2 j} = <U_g3^j, Z(U_g1^j1, U_g2^j2)>
             for every ordered triple of groups: size = n_groups^3 x ncount(2J), e.g. 2J=4: 14 x n_groups^3
             (3 groups 378, 11 elements 18634); 2J=6: 30 x n_groups^3; 2J=8: 55 x n_groups^3.
             Column order is LAMMPS's: group triple (g1 n + g2) n + g3 major, then the (j1, j2, j) triples.
             As in LAMMPS, bzero is subtracted from the components with g1 = g2 = g3 = the centre's group.
    bnormflag divide B_{j1 j2 j} by j + 1 (LAMMPS bnormflag; bzero becomes 1).
    wselfallflag the centre's self term in every group's density (LAMMPS wselfallflag).

    Columns follow LAMMPS's order: j1 = 0..2J, j2 = 0..j1, j = j1-j2..min(2J, j1+j2) step 2, kept when
    j >= j1; labels are doubled (``names`` reads "B(2,0,2)" for J1 = 1, J2 = 0, J = 1; with chem
    "B[Li,O,TM](2,0,2)"). The largest pair cut-off may not exceed MAX_CUTOFF (20 Å).
    """

    def __init__(self, twojmax, rcutfac, rfac0=0.99363, rmin0=0.0, radelem=None, wj=None, bzeroflag=True,
                 switchflag=True, chem=False, bnormflag=False, wselfallflag=False):
        self.twojmax = check_twojmax(twojmax)
        if radelem is None:
            raise ValueError("radelem is needed: {element: radius} for every element the data hold")
        rad = element_values(radelem, "radelem")
        w = {z: 1.0 for z in rad} if wj is None else element_values(wj, "wj")
        if set(w) != set(rad):
            missing = sorted(set(rad) ^ set(w))
            raise ValueError("radelem and wj must name the same elements; they differ in "
                             f"{[chemical_symbols[z] for z in missing]}")
        for z, r in rad.items():
            if r <= 0:
                raise ValueError(f"radelem of {chemical_symbols[z]} must be positive, got {r}")
        rcutfac, rfac0, rmin0 = float(rcutfac), float(rfac0), float(rmin0)
        if not rcutfac > 0:
            raise ValueError(f"rcutfac must be positive, got {rcutfac}")
        if not 0 < rfac0 <= 1:
            raise ValueError(f"rfac0 must be in (0, 1], got {rfac0}")
        if not rmin0 >= 0:
            raise ValueError(f"rmin0 must be >= 0, got {rmin0}")
        rc = rcutfac * 2 * max(rad.values())
        if rc > MAX_CUTOFF:
            raise ValueError(f"the largest pair cut-off rcutfac * (R_i + R_k) = {rc:.4g} Å exceeds the supported "
                             f"{MAX_CUTOFF:g} Å (lower rcutfac or radelem)")
        self.species = list(rad)
        self.radelem = [rad[z] for z in self.species]
        self.wj = [w[z] for z in self.species]
        self.rcutfac, self.rfac0, self.rmin0 = rcutfac, rfac0, rmin0
        self.bzeroflag, self.switchflag = bool(bzeroflag), bool(switchflag)
        self.bnormflag, self.wselfallflag = bool(bnormflag), bool(wselfallflag)
        if chem is None or chem is False:
            self.chem, self.groups = None, None
        else:
            self.chem, self.groups = chem_groups(chem, self.species)
        self._impl = _core.BispectrumDescriptor(self.twojmax, rcutfac, rfac0, rmin0, self.species, self.radelem,
                                                self.wj, self.bzeroflag, self.switchflag, self.chem or [],
                                                self.bnormflag, self.wselfallflag)
        self.triples = [tuple(t) for t in self._impl.triples]

    @property
    def names(self) -> list[str]:
        plain = [f"B({j1},{j2},{j})" for j1, j2, j in self.triples]
        if self.chem is None:
            return plain
        g = self.groups
        return [f"B[{a},{b},{c}]{t[1:]}" for a in g for b in g for c in g for t in plain]

    @property
    def symbols(self) -> list[str]:
        return [chemical_symbols[z] for z in self.species]

    def params(self) -> dict:
        out = dict(twojmax=self.twojmax, rcutfac=self.rcutfac, rfac0=self.rfac0, rmin0=self.rmin0,
                   radelem=dict(zip(self.symbols, self.radelem)), wj=dict(zip(self.symbols, self.wj)),
                   bzeroflag=self.bzeroflag, switchflag=self.switchflag)
        if self.chem is not None:
            out["chem"] = {s: self.groups[g] for s, g in zip(self.symbols, self.chem)}
        if self.bnormflag or self.wselfallflag:
            out.update(bnormflag=self.bnormflag, wselfallflag=self.wselfallflag)
        return out

    def _data(self, frames):
        data = as_dataset(frames)
        known = np.zeros(max(119, int(data.numbers.max(initial=0)) + 1), bool)
        known[self.species] = True
        bad = ~known[data.numbers]
        if bad.any():
            a = int(np.argmax(bad))
            f = int(np.searchsorted(data.offsets, a, side="right") - 1)
            raise DataError(f"{data.ids[f]} (frame {f}), atom {a - data.offsets[f]}: element "
                            f"{chemical_symbols[data.numbers[a]]} has no radelem/wj (given for {self.symbols})")
        return data

    def force_rows(self, frames):
        """Per-species summed derivatives, the force rows of a linear SNAP fit:
        rows [n_atoms, n_species, 3, size] = -d(sum over atoms i of species t of B(i)) / d r_a, the layout
        and sign of LAMMPS ``compute snad/atom`` (force sign: a linear SNAP's force is F_a = sum_t beta_t .
        rows[a, t]), and virial [n_frames, n_species, 6, size] = sum over pairs of d (x) (-dB/dd) (Voigt
        xx yy zz yz xz xy, eV per unit beta; ASE stress = -virial / volume). Memory grows as
        n_atoms x n_species x 3 x size: meant for small data; fits stream instead."""
        return self._impl.force_rows(self._data(frames).batch())
