// SOAP power spectrum (Bartok, Kondor, Csanyi, Phys. Rev. B 87, 184115, 2013), with featomic's GTO radial
// basis (Musil et al., J. Chem. Phys. 154, 114109, 2021) and optional species grouping into channels.
//
// Density of centre i in channel a (every neighbour species mapped to a channel; the centre included):
//   rho_i^a(r) = sum_{j in a} f_c(r_ij) g(r - r_ij),   g = L2-normalised Gaussian of width atom_sigma,
// f_c the shifted cosine (1 below r_c - w, 0.5 (1 + cos(pi (r - r_c + w) / w)) in the band, 0 beyond).
// Expansion c^a_{nlm} = sum_j f_c(r_ij) R_nl(r_ij) Y_lm(u_ij) with R_nl the radial integral of the
// orthonormalised GTO basis (featomic's "Gto": n = 0..n_max-1, widths r_c max(sqrt n, 1) / n_max,
// Loewdin S^-1/2) against the Gaussian; real orthonormal Y_lm.
//
// Radial integral. For the primitive r^n exp(-b_n r^2) against a Gaussian of c = 1/(2 sigma^2) at distance r
//   I_nl(r) = N_n (pi sigma^2)^(-3/4) 4 pi ... = prefactor exp(-c r^2) (c r)^l Gamma(a)/Gamma(l+3/2)
//             (c + b_n)^(-a) 1F1(a; l + 3/2; c^2 r^2 / (c + b_n)),   a = (n + l + 3) / 2,
// computed once by the (all-positive) Kummer series in log space, then tabulated with its exact
// derivative on a uniform grid and evaluated by cubic Hermite interpolation. The grid is refined until the
// largest midpoint error over all (n, l) is below 1e-10 of the largest |R_nl| (``spline_error()`` reports
// the reached value).
//
// Power spectrum. With the combined index u = a n_max + n (K = n_channels n_max of them):
//   p_{uv,l} = s_uv / sqrt(2l + 1) sum_m c_{u lm} c_{v lm},   u <= v,  s_uu = 1, s_uv = sqrt(2),
// stored l-major: feature (l, pair) at l * n_pairs + pair, pairs (u, v) u <= v in row-major order of the
// upper triangle. Then p . p' = sum_l 1/(2l+1) sum_{u,v} (sum_m c c)(sum_m c' c'), the SOAP overlap over
// all channel pairs and radial pairs (featomic's normalisation of the features and the same dot products).
// normalize: q = p / |p| (and all derivatives through it).
//
// Compression (Darby, Kermode, Csanyi, npj Comput. Mater. 8, 166, 2022, "Compressing local atomic neighbourhood
// descriptors"; QUIP's soap nu_R / nu_S). nu_S (0, 1, 2) of the two density factors keep their channel index, nu_R
// their radial index; a factor that drops the channel index uses the channel-summed ("element-agnostic") density, one
// that drops the radial index the sum over n:
//   p_{ij,l} = s_ij / sqrt(2l+1) sum_m B_{i,lm} A_{j,lm},
//   B keeps the channel if nu_S >= 1 and n if nu_R >= 1, A keeps the channel if nu_S = 2 and n if nu_R = 2,
//   B_{i,lm} = sum of c_{u,lm} over the u = a n_max + n that row i keeps (likewise A).
// So (nu_R, nu_S) = (2, 2) is the full spectrum above, (1, 1) Darby's "mu1nu1": p^a_{nl} = sum_m c^a_{nlm}
// (sum_{b,n'} c^b_{n'lm}) / sqrt(2l+1), length n_channels n_max (l_max + 1). When A and B keep the same indices
// (nu_R, nu_S in {0, 2}) the features are the upper triangle i <= j with s_ii = 1, s_ij = sqrt(2) (as the full
// spectrum); otherwise all (i, j) in row-major order of [rows of B, rows of A] with s_ij = 1. Layout l-major as above:
// feature (l, pair) at l * n_pairs + pair. The values and weights are QUIP's (tests/test_soap.py); QUIP's column order
// is SOAP.quip_order() in python/ldrx/descriptors/soap.py.
#pragma once

#include <cstdint>
#include <vector>

#include "core/species.hpp"
#include "descriptors/descriptor.hpp"

namespace ldrx {

constexpr int kSoapMaxNmax = 24;
constexpr int kSoapMaxLmax = 20;

// Gto: featomic's GTO basis. Equispaced: QUIP's "EQUISPACED_GAUSS" basis (the GAP default; see soap.cpp,
// build_equispaced): n_max Gaussians of width atom_sigma centred at r_k = k (r_c + atom_sigma sqrt(20 ln 10)) / n_max,
// k = 0..n_max-1, orthonormalised by the Cholesky factor of their overlap.
enum class SoapRadialBasis { Gto = 0, Equispaced = 1 };

struct SoapParams {
    std::vector<int> species;   // atomic numbers accepted (neighbours and centres)
    std::vector<int> channel;   // channel of each species (same order); empty: one channel per species
    int n_max = 8;              // radial functions n = 0..n_max-1
    int l_max = 6;
    double r_cut = 5.0;
    double atom_sigma = 0.5;
    double cutoff_width = 0.5;
    bool normalize = true;
    SoapRadialBasis radial_basis = SoapRadialBasis::Gto;
    int nu_R = 2;               // radial indices kept by the two density factors (0, 1, 2; see the top of this file)
    int nu_S = 2;               // channel indices kept (0, 1, 2); (2, 2): the full power spectrum
};

class SoapDescriptor : public Descriptor {
public:
    explicit SoapDescriptor(const SoapParams& p);

    int64_t size() const override { return size_; }
    double cutoff() const override { return p_.r_cut; }
    void check(const FrameBatch& b) const override { species_.check(b); }
    const SoapParams& params() const { return p_; }
    int n_channels() const { return nch_; }
    int64_t n_pairs() const { return npair_; }   // features per l
    bool compressed() const { return !full_; }
    double spline_error() const { return spline_error_; }
    int spline_intervals() const { return nint_; }
    // Exact orthonormal radial function R_nl(r) and dR/dr (for tests of the spline), [l * n_max + n].
    void radial_exact(double r, double* R, double* dR) const;
    void radial_spline(double r, double* R, double* dR) const;

    void forward(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1, double* G) const override;
    void backward(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1, const double* dEdG,
                  double* forces, double* virial) const override;
    void tangent(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1, const double* v,
                 double* dG) const override;
    void forward_backward(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1, const AdjointFn& fn,
                          double* forces, double* virial) const override;

    // Per-thread scratch of one centre: its coefficients and per-neighbour radial / angular terms.
    struct Work {
        int64_t nb = 0;                       // neighbours (pairs of the list)
        std::vector<int32_t> j, ch;           // atom, channel
        std::vector<double> vec, r;           // [nb * 3], [nb]
        std::vector<double> fR, dfR;          // [nb][l][n]: f_c R_nl and its r-derivative
        std::vector<double> Y, dY;            // [nb][lm], [nb][lm][3]: Y_lm(u) and d Y_lm / d vec (full)
        std::vector<double> c;                // [K][lm]
        std::vector<double> p;                // [size] raw power spectrum
        double norm = 1.0;                    // |p|
        std::vector<double> gp, D, tmp;       // adjoint scratch
        std::vector<double> A, B;             // compressed factors [n_A][lm], [n_B][lm] (not used by the full spectrum)
    };
    // Expand centre i (coefficients c and, with derivs, the per-neighbour terms) and its raw spectrum.
    void expand(const FrameView& f, const NeighbourList& nl, int64_t i, bool derivs, Work& w) const;
    // Output features (q or p) of the expanded centre.
    void features(const Work& w, double* G) const;
    // g = dE/d(features) of the expanded centre -> dE/dvec_ij per neighbour (g_out [nb * 3]).
    void adjoint_pairs(Work& w, const double* g, double* g_out) const;
    // As adjoint_pairs, from g = dE/dp (the raw spectrum, normalisation already taken care of).
    void adjoint_pairs_raw(Work& w, const double* gp, double* g_out) const;
    // dE/dc [K][lm] of the expanded centre from g = dE/dp (the raw spectrum); D must hold K * (l_max+1)^2.
    void coefficient_cotangent(const Work& w, const double* gp, double* D) const;
    // dE/dvec per neighbour from D = dE/dc (g_out [nb * 3]).
    void pair_gradients(const Work& w, const double* D, double* g_out) const;
    // Batched adjoint for R cotangents of the form gp_r = c_r (x_r - t_r q) (q may be null: gp_r = c_r x_r), the
    // kernel derivatives of GAP (X [R, size] row-major holds the x_r). Per l, G_l(x_r) is the weighted symmetric
    // K x K matrix of the l-block of x_r (G_uu = 2 g_uu / sqrt(2l+1), G_uv = G_vu = sqrt(2) g_uv / sqrt(2l+1)),
    // stacked [R K, K]. Only channels present around the centre take part (rows: channels with neighbours; columns: those
    // and the centre's own), gathered into compact blocks. Per centre, per l: D_l = G_l(X) C_l ([R K, K] x [K, 2l+1], one GEMM), minus t_r G_l(q) C_l, times c_r;
    // then per channel the pair gradients g^T = J^T D^T, J [n_max (l_max+1)^2, 3 nb_channel] the neighbours'
    // dc/dvec (second GEMM). Output g_out [3 nb, R] row-major (column r: the pair gradients of cotangent r).
    // With compression the D_r come from coefficient_cotangent of each cotangent (the spectrum is short), then the same
    // per-channel GEMM.
    struct BatchWork {
        std::vector<double> D, DQ, J, out, Gq, Xc, Cc, Dfull, Dq;
        std::vector<int64_t> cols;
        std::vector<int> rows_u, cols_v, row_chan;
    };
    void adjoint_pairs_raw_batch(const Work& w, const double* X, int64_t R, const double* c, const double* t,
                                 const double* q, BatchWork& bw, double* g_out) const;
    // The same when the factor A has one row (mu1nu1, (0, 1), (1, 0)): contracted over m and n before the GEMMs.
    void adjoint_batch_one_row(const Work& w, const double* X, int64_t R, const double* c, const double* t,
                               const double* q, BatchWork& bw, double* g_out) const;

private:
    void build_radial();
    void fill_g(const double* gl, double kl, double* G) const;  // G_l (K x K) of the l-block gl
    void power(Work& w) const;
    // compressed factors: rows of c summed by the row maps (identity for the full spectrum: no copy, returns c)
    const double* factor(const std::vector<double>& c, const std::vector<int>& row, int nrow, std::vector<double>& out) const;

    SoapParams p_;
    SpeciesMap species_;
    std::vector<int> chan_;      // species index -> channel
    int nch_, N_, L_, LM_, K_;
    int64_t npair_, size_;
    std::vector<double> kl_;      // 1 / sqrt(2l + 1)
    std::vector<double> pair_w_;  // s_uv per pair
    std::vector<int> pair_u_, pair_v_;   // pair k: row pair_u_ of B, row pair_v_ of A
    bool full_ = true, sym_ = true;      // (2, 2); A and B keep the same indices
    int nA_ = 0, nB_ = 0;                // rows of the factors
    std::vector<int> rowA_, rowB_;       // [K]: row of A / B that coefficient row u = a n_max + n adds to
    std::vector<int64_t> pair_of_;   // [K * K]: pair index of (u, v) (symmetric)
    std::vector<double> pair_g_;     // [K * K]: 2 on the diagonal, sqrt(2) off it (G_l = pair_g_ / sqrt(2l+1) g)
    // radial spline: nodes 0..nint_, values and derivatives [node][l][n]
    int nint_ = 0;
    double h_ = 0.0, inv_h_ = 0.0;
    std::vector<double> tab_, dtab_;
    double spline_error_ = 0.0;
    // GTO basis: widths b_n, normalisation N_n, orthonormalisation T (n x n)
    std::vector<double> b_, nrm_, T_;
    // equispaced basis: Gaussian centres r_k and exponent alpha = 1 / (2 atom_sigma^2); T_ then maps the
    // sampled density to orthonormal coefficients (T = C^-1 L, see build_equispaced)
    std::vector<double> rk_;
    double alpha_ = 0.0;
    void build_gto();
    void build_equispaced();
    void radial_exact_equispaced(double r, double* R, double* dR) const;
    std::vector<double> centre_c_;  // [n]: R_n0(0) Y_00 (centre-atom contribution to l = 0)
};

}  // namespace ldrx
