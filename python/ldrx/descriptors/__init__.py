"""Atomic-environment descriptors. Each has ``.compute(frames) -> [n_atoms, d]``, the adjoint
``.backward`` (forces and virial of E = sum dE/dG . G), the tangent ``.tangent`` and ``.names``."""

from .bispectrum import Bispectrum
from .chebyshev import Chebyshev
from .soap import SOAP

__all__ = ["Bispectrum", "Chebyshev", "SOAP"]
