"""aenet's Chebyshev descriptor (Artrith, Urban, Ceder, PRB 96, 014112, 2017), computed in C++."""

from __future__ import annotations

from .. import _core
from ..elements import species_numbers
from .base import Descriptor


class Chebyshev(Descriptor):
    """Radial and angular Chebyshev expansions with aenet's cosine cut-off, plus the typespin-weighted
    copy for more than one species; block order [rad | ang | rad_w | ang_w] as aenet 2.0.4.

    species: element symbols or atomic numbers in aenet's ENV order (it fixes the typespin weights:
    -n/2 .. n/2, 0 skipped for an even count, so the middle species of an odd count gets weight 0).
    radial_order / angular_order are the maximum polynomial orders (aenet's radial_N / angular_N).
    The LDR setting (16 / 4) gives 44 features whatever the number of species.
    """

    def __init__(self, species, radial_cutoff=8.0, radial_order=16, angular_cutoff=6.5, angular_order=4,
                 weights=None):
        self.species = species_numbers(species)
        if radial_cutoff <= 0 or angular_cutoff <= 0:
            raise ValueError("cut-offs must be positive")
        if int(radial_order) != radial_order or int(angular_order) != angular_order or radial_order < 0 \
                or angular_order < 0:
            raise ValueError("orders must be non-negative integers")
        self.radial_cutoff, self.angular_cutoff = float(radial_cutoff), float(angular_cutoff)
        self.radial_order, self.angular_order = int(radial_order), int(angular_order)
        self._impl = _core.ChebyshevDescriptor(self.species, [] if weights is None else list(map(float, weights)),
                                               self.radial_cutoff, self.radial_order, self.angular_cutoff,
                                               self.angular_order)
        self.weights = list(self._impl.weights)

    @property
    def names(self) -> list[str]:
        rad = [f"rad T{n}" for n in range(self.radial_order + 1)]
        ang = [f"ang T{n}" for n in range(self.angular_order + 1)]
        if len(self.species) == 1:
            return rad + ang
        return rad + ang + [f"{s} (typespin)" for s in rad + ang]

    def params(self) -> dict:
        return dict(species=self.species, radial_cutoff=self.radial_cutoff, radial_order=self.radial_order,
                    angular_cutoff=self.angular_cutoff, angular_order=self.angular_order, weights=self.weights)
