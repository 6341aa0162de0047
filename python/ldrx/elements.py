"""Elements given by symbol or atomic number, as users write them."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from ase.data import atomic_numbers, chemical_symbols


def species_numbers(species: Sequence) -> list[int]:
    """Atomic numbers from symbols or numbers, order kept."""
    out = []
    for s in species:
        z = atomic_numbers.get(s) if isinstance(s, str) else int(s)
        if z is None or not 0 < z < len(chemical_symbols):
            raise ValueError(f"unknown element {s!r}")
        out.append(int(z))
    if len(set(out)) != len(out):
        raise ValueError(f"species listed twice in {list(species)}")
    return out


def element_values(values, name) -> dict:
    """{atomic number: float} from a non-empty dict keyed by symbols or atomic numbers, order kept;
    `name` is the parameter's name in the error messages."""
    if not isinstance(values, dict) or not values:
        raise ValueError(f"{name} must be a non-empty dict {{element: value}}")
    out = {}
    for z, v in zip(species_numbers(list(values)), values.values()):
        v = float(v)
        if not np.isfinite(v):
            raise ValueError(f"{name} of {chemical_symbols[z]} is not finite")
        out[z] = v
    return out
