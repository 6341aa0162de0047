"""The Python front end every descriptor shares: it wraps a C++ descriptor (``self._impl``) that
implements the forward / backward / tangent contract of DESIGN.md."""

from __future__ import annotations

from ..data import as_dataset


class Descriptor:
    """compute (forward), backward (vector-Jacobian product) and tangent (Jacobian-vector product) over
    a Dataset, an ASE Atoms or a list of Atoms."""

    _impl = None

    @property
    def size(self) -> int:
        """Features per atom."""
        return self._impl.size

    @property
    def cutoff(self) -> float:
        """Neighbour-list cut-off (Å)."""
        return self._impl.cutoff

    def _data(self, frames):
        """The frames as a Dataset; subclasses add checks of what they can describe."""
        return as_dataset(frames)

    def compute(self, frames):
        """Features [n_atoms, size]."""
        return self._impl.forward(self._data(frames).batch())

    def backward(self, frames, dEdG):
        """(forces [n_atoms, 3], virial [n_frames, 6] in eV, Voigt xx yy zz yz xz xy) of the energy
        E = sum_i dEdG_i . G_i; ASE stress = -virial / volume."""
        return self._impl.backward(self._data(frames).batch(), dEdG)  # C++ checks shape and dtype

    def tangent(self, frames, v):
        """dG [n_atoms, size] = sum_a dG/dr_a . v_a (Jacobian-vector product)."""
        return self._impl.tangent(self._data(frames).batch(), v)
