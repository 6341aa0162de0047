// SNAP bispectrum components, exactly as LAMMPS ML-SNAP defines them (compute sna/atom, pair_style snap).
//
//   Thompson, Swiler, Trott, Foiles, Tucker, J. Comput. Phys. 285, 316 (2015)   SNAP
//   Wood, Thompson, J. Chem. Phys. 148, 241721 (2018)                          quadratic SNAP
//   Bartok, Payne, Kondor, Csanyi, Phys. Rev. Lett. 104, 136403 (2010)           the bispectrum idea
//   Varshalovich, Moskalev, Khersonskii, Quantum Theory of Angular Momentum (1988), 4.8.2 and 8.2.1
//
// All angular labels are doubled integers: j = 2J in 0..twojmax, and ma, mb in 0..j stand for m = ma - j/2.
//
// For a centre atom i and each neighbour k with r = r_k - r_i, |r| < rc_ik = rcutfac (R_{e_i} + R_{e_k}):
//   theta0 = rfac0 pi (|r| - rmin0) / (rc_ik - rmin0),  z0 = |r| cot theta0,  r0 = sqrt(|r|^2 + z0^2)
//   Cayley-Klein parameters a = (z0 - i z) / r0, b = (y - i x) / r0 of the point (x, y, z, z0) on the 3-sphere
//   U^j(r): Wigner U-functions, (j+1) x (j+1) complex, by the recursion of VMK 4.8.2 (compute_ui)
//   U_tot^j = wself I + sum_k fc(|r|) w_{e_k} U^j(r_k)            (wself = 1, fc the cosine switch)
//   Z_{j1 j2 j} = sum C^{j ma}_{j1 ma1 j2 ma2} C^{j mb}_{j1 mb1 j2 mb2} U_tot^{j1}[ma1][mb1] U_tot^{j2}[ma2][mb2]
//   B_{j1 j2 j} = sum_{ma, mb} Re(conj(U_tot^j[ma][mb]) Z_{j1 j2 j}[ma][mb])  (- (j+1) with bzeroflag)
// for the triples j1 = 0..2J, j2 = 0..j1, j = j1-j2..min(2J, j1+j2) step 2 with j >= j1, in that order
// (30 components at 2J = 6, 55 at 2J = 8). Matrices have the symmetry
// U[j-ma][j-mb] = (-1)^(ma-mb) conj(U[ma][mb]), so every sum runs over the half plane 2 mb <= j, weighted.
//
// Forces use the adjoint Y^j = sum over Z triples of (scaled) beta Z (compute_yi): dE_i/dr_k =
// Re sum conj(d(fc w U^j_k)/dr_k) Y^j at O(J^3) per neighbour (compute_duidrj, compute_deidrj). Derivatives
// of B itself (for linear fitting) contract dU with the three-term formula, one term for each U factor of
// B (compute_dbidu; Thompson et al. 2015, eq. 21-23).
//
// Explicit multi-element ("chem") bispectrum (LAMMPS compute sna/atom keyword chem, chemflag 1; Cusentino,
// Wood, Thompson, J. Chem. Phys. 153, 094103 (2020)): species are mapped to ne chemical groups ("elements" in
// LAMMPS; the map is LAMMPS's chem elementlist), each group e has its own density
//   U_e^j = wself I [e == e_i or wselfallflag] + sum_{k of group e} fc w_{e_k} U^j(r_k),
//   Z^{e1 e2}_{j1 j2 j} = Z_{j1 j2 j}(U_{e1}^{j1}, U_{e2}^{j2}),  B^{e1 e2 e3}_{j1 j2 j} = <U_{e3}^j, Z^{e1 e2}_{j1 j2 j}>
// (ne^3 x ncount components, column (e1 ne + e2) ne + e3 major, then the triples; bzero is subtracted when
// e1 = e2 = e3 = the centre's group (all components with wselfallflag), as LAMMPS 22 Jul 2025). bnormflag divides Z (hence B) by j + 1 (and
// bzero becomes wself^3). Derivatives: dB^{abc}/dU_c^j = Z^{ab}_{j1 j2 j}, dB^{abc}/dU_a^{j1} = f1 Z^{cb}_{j j2 j1},
// dB^{abc}/dU_b^{j2} = f2 Z^{ca}_{j j1 j2}, f = (j + 1)/(j1 + 1), (j + 1)/(j2 + 1) (1 with bnormflag): the
// three-term formula per group. Without chem, ne = 1 and everything reduces to the plain bispectrum.
// (LAMMPS's pair_style snap with chemflag folds beta^{abc} and beta^{cba} of the duplicate components
// B^{abc}_{j j2 j} = B^{cba}_{j j2 j} into 2 beta^{abc}; its forces are the exact gradient only for coefficients
// symmetric under that swap, as a ridge fit gives. ldrx's adjoint is the exact gradient for any beta.)
//
// Storage: U^j[ma][mb] of one layer is stored column-major by mb (index mb (j+1) + ma), so the half plane
// 2 mb <= j is the leading part of each layer; real and imaginary parts are separate arrays.
#pragma once

#include <cstdint>
#include <vector>

#include "core/species.hpp"
#include "descriptors/descriptor.hpp"

namespace ldrx {

struct BispectrumParams {
    int twojmax = 6;                 // 2J, the band limit (doubled label)
    double rcutfac = 4.67637;        // pair cut-off rc_ik = rcutfac (R_i + R_k)
    double rfac0 = 0.99363;          // theta0 reaches rfac0 pi at the cut-off
    double rmin0 = 0.0;              // inner distance of the angle map and of the switch
    std::vector<int> species;        // atomic numbers; order defines the per-species outputs
    std::vector<double> radelem;     // R_e per species
    std::vector<double> wj;          // neighbour weight w_e per species
    bool bzeroflag = true;           // subtract B of an isolated atom, (j + 1) wself^3
    bool switchflag = true;          // cosine switching function fc (else fc = 1 inside the cut-off)
    std::vector<int> chem;           // per species its chemical group 0..ne-1 (LAMMPS chem map); empty: no chem
    bool bnormflag = false;          // divide B_{j1 j2 j} by j + 1 (LAMMPS bnormflag)
    bool wselfallflag = false;       // self term wself I in every group's density (LAMMPS wselfallflag)
};

// The largest pair cut-off ldrx accepts (Angstrom). Beyond it a centre has thousands of neighbours
// (about 0.1 rc^3 in an oxide), which the band-limited density cannot resolve and whose per-neighbour U
// arrays (16 (J+1)(2J+1)(2J+3)/3 bytes each) no longer fit in cache.
constexpr double kBispectrumMaxCutoff = 20.0;
// The largest twojmax: the cost of Z and Y grows as J^5 and the index tables as J^5.
constexpr int kBispectrumMaxTwojmax = 20;

// Number of kept (j1, j2, j) triples for a band limit 2J; with n_groups chemical groups (chem) the
// descriptor has n_groups^3 times as many components.
int64_t bispectrum_ncoeff(int twojmax, int n_groups = 0);

class BispectrumDescriptor : public Descriptor {
public:
    explicit BispectrumDescriptor(const BispectrumParams& p);

    int64_t size() const override { return ncoeff_; }
    double cutoff() const override { return max_cutoff_; }
    void check(const FrameBatch& b) const override { species_.check(b); }
    const BispectrumParams& params() const { return p_; }
    const SpeciesMap& species() const { return species_; }
    int n_species() const { return species_.size(); }
    double pair_cutoff(int si, int sk) const { return rcut_[si * n_species() + sk]; }

    struct Triple {
        int j1, j2, j;
    };
    const std::vector<Triple>& triples() const { return btrip_; }  // kept triples, LAMMPS order
    int n_groups() const { return ne_; }     // chemical groups (1 without chem)
    bool chem() const { return !p_.chem.empty(); }
    int64_t n_triples() const { return nb_; }  // kept triples per group triple

    void forward(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1, double* G) const override;
    void backward(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1, const double* dEdG,
                  double* forces, double* virial) const override;
    void tangent(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1, const double* v,
                 double* dG) const override;
    // Per-centre Jacobian rows (Descriptor::jacobian): B(i) and dB(i)/d vec_p for every neighbour entry p.
    bool has_jacobian() const override { return true; }
    void jacobian(const FrameView& f, const NeighbourList& nl, int64_t i, double* G, double* J) const override;
    // ... summed by neighbour atom in one contraction (compute_dbidrk), for the linear fits
    void jacobian_by_atom(const FrameView& f, const NeighbourList& nl, int64_t i, bool virial, double* G,
                          AtomJacobian& out) const override;

    // ------------------------------------------------------------------ the stages, per centre atom
    // Scratch of one thread for one centre atom at a time.
    struct Work {
        int64_t centre = -1;
        int species = -1;                       // species index of the centre
        // neighbours inside their pair cut-off: neighbour-list entry, atom, vector, distance, cut-off, weight
        std::vector<int64_t> pair;
        std::vector<int32_t> atom;
        std::vector<double> rij, r, rc, w;
        std::vector<int> elem;                  // chemical group of each inside neighbour (0 without chem)
        int du_elem = 0;                        // group of the neighbour whose dU is in dulist
        std::vector<double> ulist_r, ulist_i;   // [n_inside * idxu]: U^j(r_k) of each neighbour (if stored)
        std::vector<double> utot_r, utot_i;     // [ne * idxu]: U_tot^j of every group
        std::vector<double> zlist_r, zlist_i;   // [ne^2 * idxz] half planes of every Z triple, per group pair
        std::vector<double> ylist_r, ylist_i;   // [ne * idxu] half planes of Y^j, per group
        std::vector<double> dulist_r, dulist_i; // [3 * idxu]: d(fc w U^j)/dr of one neighbour, xyz-major
                                                // (on the half planes; the rest is scratch)
        // compute_dbidrk's results: distinct neighbour atoms, dB_i/dr_k [n_k][3][ncoeff], virial [6][ncoeff]
        std::vector<int32_t> katom;
        std::vector<double> dbdr, dbvir;
        std::vector<int32_t> slot;              // atom -> position in katom (-1), sized on demand
        std::vector<double> gmat, vmat;         // contraction matrices (see compute_dbidrk)
    };
    Work make_work() const;
    // The calling thread's scratch, sized for this descriptor (kept between calls).
    Work& thread_work() const;

    // Neighbours of centre i inside their pair cut-offs, their U^j (kept per neighbour if store_u) and
    // U_tot^j.
    void compute_ui(const FrameView& f, const NeighbourList& nl, int64_t i, bool store_u, Work& w) const;
    // Z for every stored triple (all = true, needed by Y and dB) or only for the kept ones (B alone).
    void compute_zi(Work& w, bool all) const;
    // B [ncoeff] of the centre (bzero subtracted with bzeroflag).
    void compute_bi(const Work& w, double* B) const;
    // Y^j = sum over Z triples of beta-tilde Z, for the energy sum_k beta_k B_k.
    void compute_yi(const double* beta, Work& w) const;
    // d(fc w U^j)/dr of inside-neighbour n (needs compute_ui with store_u) into the half planes of w.dulist.
    void compute_duidrj(int n, Work& w) const;
    // dE_i/dr_n = Re sum conj(dU) Y_{e_n} (needs compute_yi and compute_duidrj).
    void compute_deidrj(const Work& w, double dedr[3]) const;
    // Forces and virial of E_i (needs compute_ui with store_u and compute_yi): for every inside neighbour n,
    // dE_i/dr_n (compute_duidrj, compute_deidrj) is subtracted from the force of its atom and added to the
    // centre's, and the pair term -d (x) dE_i/dd is added to the virial (Voigt).
    void add_forces(Work& w, double* forces, double* virial) const;
    // dB [ncoeff] along a perturbation dU of U_tot (ne * idxu() entries each, group-major; only half planes
    // are read): the
    // three-term formula, linear in dU, so sums of neighbour derivatives can be contracted at once.
    void compute_dbidu(const Work& w, const double* dur, const double* dui, double* dB) const;
    // dB_i/dr_j of one neighbour (3 x ncoeff), for the per-centre Jacobian rows (jacobian()).
    void compute_dbidrj(const Work& w, double* dB) const;
    // All derivatives of B_i at once (needs compute_ui with store_u and compute_zi(all)): for every distinct
    // atom k among the neighbours (the centre's own periodic images included), w.katom[q] = k and
    // w.dbdr[(q * 3 + x) * ncoeff + c] = dB_c(i)/dr_{k,x} summed over the images of k; with virial,
    // w.dbvir[v * ncoeff + c] = sum over pairs d_a dB_c/dd_b (Voigt v = (a, b)). The three-term formula is
    // linear in dU, so the images' dU are summed first and all contractions done as one matrix product.
    void compute_dbidrk(Work& w, bool virial) const;
    int64_t idxu() const { return idxu_; }  // size of a U-like array

    // Per-species summed derivatives, the force rows of a linear fit, for every atom of the batch:
    // rows[a, t, x, k] = -d(sum_{i of species t} B_k(i)) / d r_{a,x}  (LAMMPS snad/atom: the sign of a force)
    // and the virial columns vir[f, t, v, k] = sum over pairs of d (x) (-dB/dd) (Voigt, like backward's).
    // Memory is n_atoms x n_species x 3 x ncoeff: for small data and tests. Parallel over frames.
    void force_rows(const FrameBatch& b, double* rows, double* vir) const;

private:
    // dB [ncoeff] (+)= the change of B along dU (idxu entries) of group e's density alone.
    void dbidu_group(const Work& w, int e, const double* dur, const double* dui, double* dB, bool add) const;
    // Z of triple t from the layers of U_a (at j1) and U_b (at j2) into zr, zi (half plane of j).
    void z_triple(int t, const double* ar, const double* ai, const double* br, const double* bi, double* zr,
                  double* zi) const;
    struct ZTriple {
        int j1, j2, j;
        int64_t zoff;      // offset of the half plane in zlist
        int64_t cgoff;     // offset of the (j1+1) x (j2+1) Clebsch-Gordan block
        bool kept_b;       // needed by a kept B
        int beta_index;    // kept triple whose beta multiplies this Z in Y
        double beta_fac;   // and its factor
    };
    struct BTriple {
        int z;             // Z triple (j1, j2, j)
        int z1;            // Z triple (j, j2, j1)
        int z2;            // Z triple (j, j1, j2)
    };
    int zindex(int j1, int j2, int j) const { return zindex_[(j1 * (J2_ + 1) + j2) * (J2_ + 1) + j]; }
    void uarray(double x, double y, double z, double z0, double r, double* ur, double* ui) const;
    void make_indices();
    void make_clebsch_gordan();

    BispectrumParams p_;
    SpeciesMap species_;
    int J2_;
    int ne_ = 1;                        // chemical groups
    std::vector<int> elem_;             // [n_species] group of each species
    int64_t nb_ = 0;                    // kept triples (ncount); ncoeff_ = ne^3 nb_
    int64_t ncoeff_;
    double max_cutoff_;
    std::vector<double> rcut_;          // [n_species^2]
    std::vector<int64_t> ublock_;       // [J2 + 2]: layer offsets, ublock_[J2+1] = idxu
    int64_t idxu_ = 0, idxz_ = 0;
    std::vector<double> halfw_;         // [idxu]: weight of an entry in a half-plane sum (2, 1 or 0)
    std::vector<double> rootpq_;        // [(J2+2)^2]: sqrt(p / q)
    std::vector<ZTriple> ztrip_;
    std::vector<int> zindex_;           // [(J2+1)^3] -> ZTriple index or -1
    std::vector<double> cg_;            // Clebsch-Gordan blocks
    std::vector<Triple> btrip_;
    std::vector<BTriple> bz_;
    std::vector<double> bzero_;         // [ncoeff]
    std::vector<int64_t> hoff_;         // [J2 + 2]: offsets of the half planes in a packed half-plane vector
    int64_t nhalf_ = 0;
};

}  // namespace ldrx
