"""Atomic-environment descriptors. Each has ``.compute(frames) -> [n_atoms, d]``, the adjoint
``.backward`` (forces and virial of E = sum dE/dG . G), the tangent ``.tangent`` and ``.names``."""

from .chebyshev import Chebyshev

__all__ = ["Chebyshev"]
from .bispectrum import Bispectrum; __all__.append("Bispectrum")  # noqa: E402,E702
