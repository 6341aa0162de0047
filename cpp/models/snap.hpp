// Linear and quadratic SNAP: energies and forces of a fitted model (Thompson et al., J. Comput. Phys. 285, 316
// (2015); Wood and Thompson, J. Chem. Phys. 148, 241721 (2018) for the quadratic terms). The fits stream
// their rows through the shared linear-fit path (models/linear_rows.hpp) with snap_basis(): per species a
// block of columns in the order of a LAMMPS .snapcoeff row,
//   [ 1 | Bt_k, k < ncoeff | quadratic: 0.5 Bt_k^2 (l = k), Bt_k Bt_l (l > k), k outer, l inner ]
// where Bt = scale * (B - shift) is the bispectrum of an atom standardised per species (the caller folds
// shift and scale back into beta0 / beta / alpha afterwards), and energy and virial rows per atom:
// targets (E - E_ref) / N and W / N (eV/atom), forces in eV/A.
#pragma once

#include <cstdint>

#include "descriptors/bispectrum.hpp"
#include "models/linear_rows.hpp"

namespace ldrx {

// Columns per species: 1 + ncoeff (+ ncoeff (ncoeff + 1) / 2 for qSNAP).
inline int64_t snap_per_species(int64_t ncoeff, bool quadratic) {
    return 1 + ncoeff + (quadratic ? ncoeff * (ncoeff + 1) / 2 : 0);
}

// The feature map of a SNAP / qSNAP fit for linear_normal_equations / linear_design_matrix.
inline LinearBasis snap_basis(bool quadratic, const double* shift, const double* scale) {
    LinearBasis basis;
    basis.quadratic = quadratic;
    basis.shift = shift;
    basis.scale = scale;
    basis.per_atom = true;
    return basis;
}

// Energies, forces and virial of a fitted SNAP / qSNAP, in one pass over the atoms (LAMMPS pair_style snap).
// coefficients [n_species * snap_per_species(ncoeff, quadratic)] hold per species a LAMMPS .snapcoeff row: beta0, beta_k, and for
// qSNAP alpha_kl (l >= k; k outer, l inner) of the symmetric alpha. Per centre atom i, U and Z are computed
// once: B_i gives E_i = beta0 + beta . B_i + 0.5 B_i^T alpha B_i, and the adjoint Y with
// beta_eff = dE_i/dB_i = beta + alpha B_i gives the forces. energies [n_atoms] (per atom, eV) is written;
// forces [n_atoms, 3] (eV/A) and virial [n_frames, 6] (Voigt, eV) are overwritten, or both nullptr for
// energies alone. Deterministic for a given thread count.
void snap_energy_forces(const BispectrumDescriptor& d, const FrameBatch& b, const double* coefficients,
                        bool quadratic, double* energies, double* forces, double* virial);

}  // namespace ldrx
