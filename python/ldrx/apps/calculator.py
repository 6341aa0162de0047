"""ASE calculator for any ldrx model."""

from __future__ import annotations

import warnings

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from ..errors import ExtrapolationWarning


class LdrxCalculator(Calculator):
    """Energy, forces and stress of an ldrx model for ASE (MD, relaxations, EOS, ...).

    Structures outside the training data (atoms closer than any such pair in the training set) are
    counted in ``n_extrapolations`` (of ``n_calculations``); one ExtrapolationWarning is issued for the
    first, naming the structure and the pair, and one more at 10, 100, 1000, ... extrapolations with the
    running count, so an MD run is not flooded with warnings.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, model, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.n_calculations = 0
        self.n_extrapolations = 0
        self.last_extrapolation = None

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        from ..data import Dataset
        self.n_calculations += 1
        want_stress = "stress" in properties and self.atoms.pbc.all()
        name = f"{self.atoms.get_chemical_formula()} ({len(self.atoms)} atoms), calculation {self.n_calculations}"
        data = Dataset.from_atoms(self.atoms, ids=[name])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pred = self.model.predict(data, forces=True, stress=want_stress)
        outside = [w for w in caught if issubclass(w.category, ExtrapolationWarning)]
        for w in caught:
            if w not in outside:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if outside:
            self.n_extrapolations += 1
            self.last_extrapolation = str(outside[0].message).split("extrapolations: ", 1)[-1]
            n = self.n_extrapolations
            if n == 1 or (n >= 10 and 10 ** int(round(np.log10(n))) == n):
                more = ("" if n == 1 else f"{n} of {self.n_calculations} calculations so far extrapolated; latest: ")
                warnings.warn(f"{more}{self.last_extrapolation}; the prediction is an extrapolation (this "
                              f"calculator warns again at 10, 100, 1000, ... such structures; count in "
                              f"calc.n_extrapolations)", ExtrapolationWarning, stacklevel=2)
        e = float(pred.energy[0])
        self.results["energy"] = e
        self.results["free_energy"] = e
        self.results["forces"] = np.asarray(pred.forces)
        if want_stress and pred.stress is not None:
            self.results["stress"] = np.asarray(pred.stress[0])
        elif "stress" in properties:
            from ase.calculators.calculator import PropertyNotImplementedError
            raise PropertyNotImplementedError("stress needs a cell periodic in all three directions")
