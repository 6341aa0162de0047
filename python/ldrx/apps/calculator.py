"""ASE calculator for any ldrx model."""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes


class LdrxCalculator(Calculator):
    """Energy, forces and stress of an ldrx model for ASE (MD, relaxations, EOS, ...)."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, model, **kwargs):
        super().__init__(**kwargs)
        self.model = model

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        want_stress = "stress" in properties and self.atoms.pbc.all()
        pred = self.model.predict(self.atoms, forces=True, stress=want_stress)
        e = float(pred.energy[0])
        self.results["energy"] = e
        self.results["free_energy"] = e
        self.results["forces"] = np.asarray(pred.forces)
        if want_stress and pred.stress is not None:
            self.results["stress"] = np.asarray(pred.stress[0])
        elif "stress" in properties:
            from ase.calculators.calculator import PropertyNotImplementedError
            raise PropertyNotImplementedError("stress needs a cell periodic in all three directions")
