// Linear and quadratic SNAP: energies and forces of a fitted model, and the fits: the rows of the weighted least-squares problem, streamed into the normal
// equations A^T W A x = A^T W b without ever holding A (Thompson et al., J. Comput. Phys. 285, 316 (2015);
// Wood and Thompson, J. Chem. Phys. 148, 241721 (2018) for the quadratic terms).
//
// Columns. Each species s owns a block of per_species() columns, in the order of a LAMMPS .snapcoeff row:
//   [ 1 | Bt_k, k < ncoeff | quadratic: 0.5 Bt_k^2 (l = k), Bt_k Bt_l (l > k), k outer, l inner ]
// where Bt = scale * (B - shift) is the bispectrum of an atom standardised per species (the caller folds
// shift and scale back into beta0 / beta / alpha afterwards). Energy of an atom i of species s:
// E_i = x_s . column(i).
// Rows of one frame with N atoms (Voigt v = xx yy zz yz xz xy):
//   energy   sum_i column(i) / N                                   target (E - E_ref) / N   (eV/atom)
//   forces   -d(sum_i column(i)) / d r_{a,x},  3N rows              target F_{a,x}           (eV/A)
//   virial   sum over pairs of -d_a d(column)/d d_b / N, 6 rows      target W_v / N           (eV/atom)
// Each row and its target are multiplied by sqrt(w) (weights multiply squared residuals). A row whose
// target is NaN, or whose weight is 0, is left out. Only the blocks of species present in a frame are
// non-zero, so the frame's rows are built on the compacted columns of those species and multiplied into
// the matching blocks of A^T W A; frames with the same species are batched into one product.
#pragma once

#include <cstdint>

#include "descriptors/bispectrum.hpp"

namespace ldrx {

struct SnapBasis {
    int64_t ncoeff = 0;
    bool quadratic = false;
    const double* shift = nullptr;  // [n_species * ncoeff]
    const double* scale = nullptr;  // [n_species * ncoeff]
    int64_t n_quadratic() const { return quadratic ? ncoeff * (ncoeff + 1) / 2 : 0; }
    int64_t per_species() const { return 1 + ncoeff + n_quadratic(); }
};

// Energies, forces and virial of a fitted SNAP / qSNAP, in one pass over the atoms (LAMMPS pair_style snap).
// coefficients [n_species * per_species()] hold per species a LAMMPS .snapcoeff row: beta0, beta_k, and for
// qSNAP alpha_kl (l >= k; k outer, l inner) of the symmetric alpha. Per centre atom i, U and Z are computed
// once: B_i gives E_i = beta0 + beta . B_i + 0.5 B_i^T alpha B_i, and the adjoint Y with
// beta_eff = dE_i/dB_i = beta + alpha B_i gives the forces. energies [n_atoms] (per atom, eV) is written;
// forces [n_atoms, 3] (eV/A) and virial [n_frames, 6] (Voigt, eV) are overwritten, or both nullptr for
// energies alone. Deterministic for a given thread count.
void snap_energy_forces(const BispectrumDescriptor& d, const FrameBatch& b, const double* coefficients,
                        bool quadratic, double* energies, double* forces, double* virial);

struct SnapTargets {
    const double* energy = nullptr;    // [n_frames] (E - E_ref) / N, eV/atom; NaN: no row
    const double* forces = nullptr;    // [n_atoms * 3] eV/A; NaN: no row
    const double* virial = nullptr;    // [n_frames * 6] W / N, eV/atom; NaN: no row; nullptr: no virial rows
    const double* w_energy = nullptr;  // [n_frames] weights of the squared residuals
    const double* w_force = nullptr;   // [n_frames]
    const double* w_virial = nullptr;  // [n_frames] (nullptr with virial == nullptr)
};

// Adds the frames' contributions to the normal equations: ata [n x n] (row-major, kept symmetric),
// atb [n], and btb (b^T W b), n_rows (rows used), with n = n_species * per_species(). Frames run in
// parallel over threads, each with its own copy of ata summed in thread order (deterministic for a
// given thread count; memory: threads x n^2 x 8 bytes).
void snap_normal_equations(const BispectrumDescriptor& d, const FrameBatch& b, const SnapBasis& basis,
                           const SnapTargets& t, double* ata, double* atb, double* btb, int64_t* n_rows);

// Number of rows the frames give (for snap_design_matrix).
int64_t snap_count_rows(const FrameBatch& b, const SnapTargets& t);

// The weighted rows themselves, A [n_rows x n] (row-major) and b [n_rows], for small problems that are
// solved by SVD. Rows come frame by frame in the order energy, forces (atom-major), virial.
void snap_design_matrix(const BispectrumDescriptor& d, const FrameBatch& b, const SnapBasis& basis,
                        const SnapTargets& t, double* A, double* rhs);

}  // namespace ldrx
