#include "descriptors/soap.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace ldrx {
namespace {

constexpr double kPi = 3.14159265358979323846;
using RowMat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using StridedMap = Eigen::Map<RowMat, 0, Eigen::OuterStride<>>;
using CStridedMap = Eigen::Map<const RowMat, 0, Eigen::OuterStride<>>;

// exp(lpre) 1F1(a; b; z) for a, b > 0, z >= 0, by Kummer's series summed in log space (all terms are
// positive, so the sum is accurate to rounding; no overflow since the exponent is carried along).
double kummer_scaled(double a, double b, double z, double lpre) {
    double lt = lpre, sum = std::exp(lt);
    if (z <= 0.0) return sum;
    const double lz = std::log(z);
    for (int k = 0; k < 100000; ++k) {
        lt += std::log((a + k) / ((b + k) * (k + 1.0))) + lz;
        const double t = std::exp(lt);
        sum += t;
        if (k > z && t < 1e-17 * sum) break;
    }
    return sum;
}

// Shifted cosine cut-off of width w below rc, and its derivative.
inline void shifted_cosine(double r, double rc, double w, double& f, double& df) {
    const double r0 = rc - w;
    if (r <= r0) {
        f = 1.0;
        df = 0.0;
    } else if (r >= rc) {
        f = 0.0;
        df = 0.0;
    } else {
        const double x = kPi * (r - r0) / w;
        f = 0.5 * (1.0 + std::cos(x));
        df = -0.5 * kPi / w * std::sin(x);
    }
}

}  // namespace

SoapDescriptor::SoapDescriptor(const SoapParams& p) : p_(p), species_(p.species) {
    if (p.n_max < 1 || p.n_max > kSoapMaxNmax)
        throw std::invalid_argument("n_max must be in 1.." + std::to_string(kSoapMaxNmax) + ", got " + std::to_string(p.n_max));
    if (p.l_max < 0 || p.l_max > kSoapMaxLmax)
        throw std::invalid_argument("l_max must be in 0.." + std::to_string(kSoapMaxLmax) + ", got " + std::to_string(p.l_max));
    if (!(p.r_cut > 0.0) || !std::isfinite(p.r_cut)) throw std::invalid_argument("r_cut must be positive");
    if (!(p.atom_sigma > 0.0) || !std::isfinite(p.atom_sigma)) throw std::invalid_argument("atom_sigma must be positive");
    if (!(p.cutoff_width >= 0.0) || !(p.cutoff_width < p.r_cut))
        throw std::invalid_argument("cutoff_width must be in [0, r_cut)");
    const int ns = species_.size();
    if (p.channel.empty()) {
        chan_.resize(ns);
        for (int s = 0; s < ns; ++s) chan_[s] = s;
    } else {
        if (static_cast<int>(p.channel.size()) != ns) throw std::invalid_argument("channel must have one entry per species");
        chan_ = p.channel;
    }
    nch_ = 0;
    for (int c : chan_) {
        if (c < 0) throw std::invalid_argument("channels must be >= 0");
        nch_ = std::max(nch_, c + 1);
    }
    std::vector<char> used(nch_, 0);
    for (int c : chan_) used[c] = 1;
    for (int c = 0; c < nch_; ++c)
        if (!used[c]) throw std::invalid_argument("channel " + std::to_string(c) + " has no species (channels must be 0..n-1)");
    N_ = p.n_max;
    L_ = p.l_max;
    LM_ = (L_ + 1) * (L_ + 1);
    K_ = nch_ * N_;
    if (p.nu_R < 0 || p.nu_R > 2 || p.nu_S < 0 || p.nu_S > 2)
        throw std::invalid_argument("nu_R and nu_S must be 0, 1 or 2, got nu_R = " + std::to_string(p.nu_R) +
                                    ", nu_S = " + std::to_string(p.nu_S));
    // the two density factors: B keeps the channel if nu_S >= 1 and n if nu_R >= 1, A if nu_S = 2 and nu_R = 2
    full_ = p.nu_R == 2 && p.nu_S == 2;
    sym_ = p.nu_R != 1 && p.nu_S != 1;
    auto rows = [&](bool keep_s, bool keep_n, std::vector<int>& row) {
        row.resize(K_);
        for (int a = 0; a < nch_; ++a)
            for (int n = 0; n < N_; ++n) row[a * N_ + n] = (keep_s ? a : 0) * (keep_n ? N_ : 1) + (keep_n ? n : 0);
        return (keep_s ? nch_ : 1) * (keep_n ? N_ : 1);
    };
    nA_ = rows(p.nu_S == 2, p.nu_R == 2, rowA_);
    nB_ = rows(p.nu_S >= 1, p.nu_R >= 1, rowB_);
    kl_.resize(L_ + 1);
    for (int l = 0; l <= L_; ++l) kl_[l] = 1.0 / std::sqrt(2.0 * l + 1.0);
    if (sym_) {
        for (int u = 0; u < nA_; ++u)
            for (int v = u; v < nA_; ++v) {
                pair_u_.push_back(u);
                pair_v_.push_back(v);
                pair_w_.push_back(u == v ? 1.0 : std::sqrt(2.0));
            }
    } else {
        for (int i = 0; i < nB_; ++i)
            for (int j = 0; j < nA_; ++j) {
                pair_u_.push_back(i);
                pair_v_.push_back(j);
                pair_w_.push_back(1.0);
            }
    }
    npair_ = static_cast<int64_t>(pair_u_.size());
    size_ = npair_ * (L_ + 1);
    if (full_) {
        pair_of_.resize(size_t(K_) * K_);
        pair_g_.resize(size_t(K_) * K_);
        for (size_t k = 0; k < pair_u_.size(); ++k) {
            const int u = pair_u_[k], v = pair_v_[k];
            pair_of_[size_t(u) * K_ + v] = pair_of_[size_t(v) * K_ + u] = static_cast<int64_t>(k);
            pair_g_[size_t(u) * K_ + v] = pair_g_[size_t(v) * K_ + u] = u == v ? 2.0 : std::sqrt(2.0);
        }
    }
    build_radial();
}

// ------------------------------------------------------------------------------------------------ radial

void SoapDescriptor::radial_exact(double r, double* R, double* dR) const {
    if (p_.radial_basis == SoapRadialBasis::Equispaced) {
        radial_exact_equispaced(r, R, dR);
        return;
    }
    // primitive integrals, then N_n and the orthonormalising transform T
    const double sig = p_.atom_sigma;
    const double c = 0.5 / (sig * sig);
    const double pre = std::pow(kPi / (sig * sig), 0.75);
    std::vector<double> prim(N_), dprim(N_);
    for (int l = 0; l <= L_; ++l) {
        const double bb = l + 1.5;
        for (int n = 0; n < N_; ++n) {
            const double a = 0.5 * (n + l + 3);
            const double al = c + b_[n];
            const double z = c * c * r * r / al;
            const double lg = std::lgamma(a) - std::lgamma(bb) - a * std::log(al) + std::log(pre);
            const double e0 = kummer_scaled(a, bb, z, -c * r * r + lg);
            const double e1 = kummer_scaled(a + 1, bb + 1, z, -c * r * r + lg);
            const double cr = c * r;
            const double crl = std::pow(cr, l);
            prim[n] = crl * e0;
            double d = crl * (-2.0 * c * r * e0 + (a / bb) * e1 * 2.0 * c * c * r / al);
            if (l > 0) d += l * c * std::pow(cr, l - 1) * e0;
            dprim[n] = d;
        }
        for (int n = 0; n < N_; ++n) {
            double v = 0.0, dv = 0.0;
            for (int k = 0; k < N_; ++k) {
                v += T_[n * N_ + k] * nrm_[k] * prim[k];
                dv += T_[n * N_ + k] * nrm_[k] * dprim[k];
            }
            R[l * N_ + n] = v;
            dR[l * N_ + n] = dv;
        }
    }
}

void SoapDescriptor::radial_spline(double r, double* R, double* dR) const {
    double x = r * inv_h_;
    int k = static_cast<int>(x);
    if (k >= nint_) k = nint_ - 1;
    if (k < 0) k = 0;
    const double t = x - k, t2 = t * t, t3 = t2 * t;
    const double h00 = 2 * t3 - 3 * t2 + 1, h10 = t3 - 2 * t2 + t, h01 = -2 * t3 + 3 * t2, h11 = t3 - t2;
    const double d00 = (6 * t2 - 6 * t) * inv_h_, d10 = 3 * t2 - 4 * t + 1, d01 = (-6 * t2 + 6 * t) * inv_h_,
                 d11 = 3 * t2 - 2 * t;
    const int NL = N_ * (L_ + 1);
    const double* f0 = &tab_[size_t(k) * NL];
    const double* f1 = f0 + NL;
    const double* g0 = &dtab_[size_t(k) * NL];
    const double* g1 = g0 + NL;
    const double h = h_;
    for (int q = 0; q < NL; ++q) {
        R[q] = h00 * f0[q] + h10 * h * g0[q] + h01 * f1[q] + h11 * h * g1[q];
        dR[q] = d00 * f0[q] + d10 * g0[q] + d01 * f1[q] + d11 * g1[q];
    }
}

void SoapDescriptor::build_gto() {
    // featomic's GTO: sigma_n = r_c max(sqrt n, 1) / n_max, b_n = 1 / (2 sigma_n^2)
    b_.resize(N_);
    nrm_.resize(N_);
    for (int n = 0; n < N_; ++n) {
        const double s = p_.r_cut * std::max(std::sqrt(double(n)), 1.0) / N_;
        b_[n] = 0.5 / (s * s);
        nrm_[n] = std::sqrt(2.0 / (std::pow(s, 2 * n + 3) * std::tgamma(n + 1.5)));
    }
    Eigen::MatrixXd S(N_, N_);
    for (int n = 0; n < N_; ++n)
        for (int m = 0; m < N_; ++m) {
            const double e = 0.5 * (n + m + 3);
            S(n, m) = nrm_[n] * nrm_[m] * 0.5 * std::exp(std::lgamma(e) - e * std::log(b_[n] + b_[m]));
        }
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(S);
    const Eigen::VectorXd ev = es.eigenvalues();
    if (ev.minCoeff() <= 1e-12 * ev.maxCoeff())
        throw std::invalid_argument("the GTO radial overlap matrix is singular for n_max = " + std::to_string(N_) +
                                    " (lower n_max)");
    const Eigen::MatrixXd Tm = es.eigenvectors() * ev.cwiseInverse().cwiseSqrt().asDiagonal() * es.eigenvectors().transpose();
    T_.resize(N_ * N_);
    for (int n = 0; n < N_; ++n)
        for (int m = 0; m < N_; ++m) T_[n * N_ + m] = Tm(n, m);
}

// QUIP's equispaced Gaussian basis (GAP's soap descriptor, radial_basis=EQUISPACED_GAUSS; Bartok, Kondor, Csanyi,
// PRB 87, 184115, 2013, sec. IV; written from the formulas, not the code). With alpha = 1 / (2 sigma^2):
//   centres r_k = k Delta, k = 0..n_max-1, Delta = (r_c + sigma sqrt(2 e ln 10)) / n_max, e = 10 (QUIP's
//   basis_error_exponent), Gaussians g_k(s) = exp(-alpha (s - r_k)^2);
//   overlap S_kl = int_0^inf s^2 g_k g_l ds (closed form below) = L L^T (lower Cholesky);
//   interpolation matrix C_kl = g_k(r_l) = exp(-alpha (r_k - r_l)^2).
// The l-th radial profile of a neighbour Gaussian at distance r, F_l(s; r) = exp(-alpha (s^2 + r^2)) i_l(2 alpha s r)
// (i_l the modified spherical Bessel function; the 4 pi of the plane-wave expansion is left out, as QUIP does), is
// sampled at the centres, interpolated by sum_k w_k g_k with C w = F(r_.), and written in the orthonormal basis
// g L^-T: coefficients L^T w = T^T F with T = C^-1 L. So R_nl(r) = sum_k T_kn F_l(r_k; r).
void SoapDescriptor::build_equispaced() {
    const double sig = p_.atom_sigma;
    alpha_ = 0.5 / (sig * sig);
    const double delta = (p_.r_cut + sig * std::sqrt(2.0 * 10.0 * std::log(10.0))) / N_;
    rk_.resize(N_);
    for (int k = 0; k < N_; ++k) rk_[k] = k * delta;
    const double a = alpha_;
    Eigen::MatrixXd S(N_, N_), C(N_, N_);
    for (int k = 0; k < N_; ++k)
        for (int l = 0; l < N_; ++l) {
            // int_0^inf s^2 exp(-2a (s - m)^2) ds exp(-a (r_k - r_l)^2 / 2), m = (r_k + r_l) / 2
            const double m = 0.5 * (rk_[k] + rk_[l]), dkl = rk_[k] - rk_[l];
            const double b = 2.0 * a;
            const double tail = m / (2.0 * b) * std::exp(-a * (rk_[k] * rk_[k] + rk_[l] * rk_[l]));
            const double body = std::exp(-0.5 * a * dkl * dkl) * std::sqrt(kPi) * (1.0 + std::erf(m * std::sqrt(b))) *
                                (0.25 / std::pow(b, 1.5) + 0.5 * m * m / std::sqrt(b));
            S(k, l) = tail + body;
            C(k, l) = std::exp(-a * dkl * dkl);
        }
    Eigen::LLT<Eigen::MatrixXd> llt(S);
    if (llt.info() != Eigen::Success)
        throw std::invalid_argument("the equispaced Gaussian overlap matrix is not positive definite for n_max = " +
                                    std::to_string(N_) + " (lower n_max)");
    const Eigen::MatrixXd Lm = llt.matrixL();
    const Eigen::MatrixXd Tm = C.partialPivLu().solve(Lm);
    T_.resize(N_ * N_);
    // stored so that radial_exact's contraction R[n] = sum_k T_[n * N + k] F[k] applies T^T
    for (int n = 0; n < N_; ++n)
        for (int k = 0; k < N_; ++k) T_[n * N_ + k] = Tm(k, n);
}

namespace {
// exp(lpre) i_l(x) for x >= 0 by the all-positive series i_l(x) = sum_k x^(l+2k) / (2^k k! (2l+2k+1)!!), summed in
// log space (no overflow for large x: the exponent of the Gaussian prefactor is carried along).
double sph_bessel_i_scaled(int l, double x, double lpre) {
    if (x <= 0.0) return l == 0 ? std::exp(lpre) : 0.0;
    double ldf = 0.0;  // log (2l+1)!!
    for (int k = 3; k <= 2 * l + 1; k += 2) ldf += std::log(double(k));
    double lt = lpre + l * std::log(x) - ldf, sum = std::exp(lt);
    const double lx2 = std::log(0.5 * x * x);
    for (int k = 0; k < 100000; ++k) {
        lt += lx2 - std::log((k + 1.0) * (2.0 * l + 2.0 * k + 3.0));
        const double t = std::exp(lt);
        sum += t;
        if (k > x && t < 1e-17 * sum) break;
    }
    return sum;
}
}  // namespace

void SoapDescriptor::radial_exact_equispaced(double r, double* R, double* dR) const {
    // F_l(r_k; r) and dF/dr = exp(-a (s^2 + r^2)) (-2 a r i_l(x) + 2 a s i_l'(x)), x = 2 a s r,
    // i_l' = (l i_(l-1) + (l + 1) i_(l+1)) / (2l + 1) (i_0' = i_1)
    const double a = alpha_;
    std::vector<double> F(size_t(L_ + 1) * N_), dF(size_t(L_ + 1) * N_), I(L_ + 2);
    for (int k = 0; k < N_; ++k) {
        const double s = rk_[k], x = 2.0 * a * s * r, lpre = -a * (s * s + r * r);
        for (int l = 0; l <= L_ + 1; ++l) I[l] = sph_bessel_i_scaled(l, x, lpre);
        for (int l = 0; l <= L_; ++l) {
            const double dI = l == 0 ? I[1] : (l * I[l - 1] + (l + 1) * I[l + 1]) / (2.0 * l + 1.0);
            F[l * N_ + k] = I[l];
            dF[l * N_ + k] = -2.0 * a * r * I[l] + 2.0 * a * s * dI;
        }
    }
    for (int l = 0; l <= L_; ++l)
        for (int n = 0; n < N_; ++n) {
            double v = 0.0, dv = 0.0;
            for (int k = 0; k < N_; ++k) {
                v += T_[n * N_ + k] * F[l * N_ + k];
                dv += T_[n * N_ + k] * dF[l * N_ + k];
            }
            R[l * N_ + n] = v;
            dR[l * N_ + n] = dv;
        }
}

void SoapDescriptor::build_radial() {
    if (p_.radial_basis == SoapRadialBasis::Equispaced)
        build_equispaced();
    else
        build_gto();
    const int NL = N_ * (L_ + 1);
    std::vector<double> R(NL), dR(NL), Rs(NL), dRs(NL);
    for (nint_ = 64;; nint_ *= 2) {
        h_ = p_.r_cut / nint_;
        inv_h_ = 1.0 / h_;
        tab_.assign(size_t(nint_ + 1) * NL, 0.0);
        dtab_.assign(size_t(nint_ + 1) * NL, 0.0);
        double rmax = 0.0;
        for (int k = 0; k <= nint_; ++k) {
            radial_exact(k * h_, &tab_[size_t(k) * NL], &dtab_[size_t(k) * NL]);
            for (int q = 0; q < NL; ++q) rmax = std::max(rmax, std::abs(tab_[size_t(k) * NL + q]));
        }
        double err = 0.0;
        for (int k = 0; k < nint_; ++k) {
            const double r = (k + 0.5) * h_;
            radial_exact(r, R.data(), dR.data());
            radial_spline(r, Rs.data(), dRs.data());
            for (int q = 0; q < NL; ++q) err = std::max(err, std::abs(R[q] - Rs[q]));
        }
        spline_error_ = err / rmax;
        if (spline_error_ < 1e-10 || nint_ >= 16384) break;
    }
    centre_c_.resize(N_);
    radial_exact(0.0, R.data(), dR.data());
    for (int n = 0; n < N_; ++n) centre_c_[n] = R[n] / std::sqrt(4.0 * kPi);
}

// ------------------------------------------------------------------------------------------------ angular

namespace {

// Real orthonormal Y_lm(u) at lm = l^2 + l + m and the gradient of the degree-l polynomial in (x, y, z)
// with r^2 held at 1 ("dYt", [lm][3]); the true gradient with respect to the pair vector d is
// (dYt - u (u . dYt)) / |d| (the difference is radial). Recurrences for the polynomials Pi_l^m(z) of
// r^l P_l^m(cos theta) = Pi_l^m(z) Re/Im (x + i y)^m (no Condon-Shortley phase):
//   Pi_m^m = (2m-1)!!, Pi_{m+1}^m = (2m+1) z Pi_m^m, (l-m) Pi_l^m = (2l-1) z Pi_{l-1}^m - (l+m-1) Pi_{l-2}^m.
void spherical_harmonics(int L, const double* u, const double* norm, double* Y, double* dYt) {
    const double x = u[0], y = u[1], z = u[2];
    double A[kSoapMaxLmax + 1], B[kSoapMaxLmax + 1];
    A[0] = 1.0;
    B[0] = 0.0;
    for (int m = 1; m <= L; ++m) {
        A[m] = x * A[m - 1] - y * B[m - 1];
        B[m] = x * B[m - 1] + y * A[m - 1];
    }
    double Pi[kSoapMaxLmax + 1], dPi[kSoapMaxLmax + 1];
    double dfact = 1.0;  // (2m-1)!!
    for (int m = 0; m <= L; ++m) {
        if (m > 0) dfact *= (2 * m - 1);
        Pi[m] = dfact;
        dPi[m] = 0.0;
        if (m + 1 <= L) {
            Pi[m + 1] = (2 * m + 1) * z * dfact;
            dPi[m + 1] = (2 * m + 1) * dfact;
        }
        for (int l = m + 2; l <= L; ++l) {
            Pi[l] = ((2 * l - 1) * z * Pi[l - 1] - (l + m - 1) * Pi[l - 2]) / (l - m);
            dPi[l] = ((2 * l - 1) * (Pi[l - 1] + z * dPi[l - 1]) - (l + m - 1) * dPi[l - 2]) / (l - m);
        }
        for (int l = m; l <= L; ++l) {
            const double nl = norm[l * (kSoapMaxLmax + 1) + m];
            const int c = l * l + l;
            if (m == 0) {
                Y[c] = nl * Pi[l];
                if (dYt) {
                    dYt[3 * c] = 0.0;
                    dYt[3 * c + 1] = 0.0;
                    dYt[3 * c + 2] = nl * dPi[l];
                }
            } else {
                Y[c + m] = nl * Pi[l] * A[m];
                Y[c - m] = nl * Pi[l] * B[m];
                if (dYt) {
                    double* gp = dYt + 3 * (c + m);
                    double* gm = dYt + 3 * (c - m);
                    gp[0] = nl * Pi[l] * m * A[m - 1];
                    gp[1] = -nl * Pi[l] * m * B[m - 1];
                    gp[2] = nl * dPi[l] * A[m];
                    gm[0] = nl * Pi[l] * m * B[m - 1];
                    gm[1] = nl * Pi[l] * m * A[m - 1];
                    gm[2] = nl * dPi[l] * B[m];
                }
            }
        }
    }
}

struct YNorm {
    double v[(kSoapMaxLmax + 1) * (kSoapMaxLmax + 1)];
    YNorm() {
        for (int l = 0; l <= kSoapMaxLmax; ++l)
            for (int m = 0; m <= l; ++m) {
                double r = 1.0;  // (l-m)! / (l+m)!
                for (int k = l - m + 1; k <= l + m; ++k) r /= k;
                v[l * (kSoapMaxLmax + 1) + m] = std::sqrt((m == 0 ? 1.0 : 2.0) * (2 * l + 1) / (4 * kPi) * r);
            }
    }
};
const YNorm kYNorm;

}  // namespace

// ------------------------------------------------------------------------------------------------ per centre

void SoapDescriptor::expand(const FrameView& f, const NeighbourList& nl, int64_t i, bool derivs, Work& w) const {
    const int64_t e0 = nl.begin(i), e1 = nl.end(i);
    const int64_t nb = e1 - e0;
    const int NL = N_ * (L_ + 1);
    w.nb = nb;
    // the scratch is thread-local and shared by descriptors of different sizes: grow each array as needed
    auto grow = [](auto& v, int64_t n) {
        if (static_cast<int64_t>(v.size()) < n) v.resize(n);
    };
    grow(w.j, nb);
    grow(w.ch, nb);
    grow(w.vec, 3 * nb);
    grow(w.r, nb);
    grow(w.fR, nb * NL);
    grow(w.dfR, nb * NL);
    grow(w.Y, nb * LM_);
    grow(w.dY, 3 * nb * LM_);
    w.c.assign(size_t(K_) * LM_, 0.0);
    std::vector<double>& R = w.tmp;
    R.resize(2 * NL + 3 * LM_);
    double* dR = R.data() + NL;
    double* dYt = R.data() + 2 * NL;
    for (int64_t e = 0; e < nb; ++e) {
        const int64_t q = e0 + e;
        const int32_t j = nl.index[q];
        const int ch = chan_[species_(f.numbers[j])];
        const double r = nl.dist[q];
        const double u[3] = {nl.vec[3 * q] / r, nl.vec[3 * q + 1] / r, nl.vec[3 * q + 2] / r};
        w.j[e] = j;
        w.ch[e] = ch;
        w.r[e] = r;
        for (int k = 0; k < 3; ++k) w.vec[3 * e + k] = nl.vec[3 * q + k];
        double fc, dfc;
        shifted_cosine(r, p_.r_cut, p_.cutoff_width, fc, dfc);
        radial_spline(r, R.data(), dR);
        double* fR = &w.fR[e * NL];
        double* dfR = &w.dfR[e * NL];
        for (int k = 0; k < NL; ++k) {
            fR[k] = fc * R[k];
            dfR[k] = dfc * R[k] + fc * dR[k];
        }
        double* Y = &w.Y[e * LM_];
        spherical_harmonics(L_, u, kYNorm.v, Y, derivs ? dYt : nullptr);
        if (derivs) {
            double* dY = &w.dY[3 * e * LM_];
            const double ir = 1.0 / r;
            for (int lm = 0; lm < LM_; ++lm) {
                const double* g = dYt + 3 * lm;
                const double ug = u[0] * g[0] + u[1] * g[1] + u[2] * g[2];
                for (int k = 0; k < 3; ++k) dY[3 * lm + k] = ir * (g[k] - u[k] * ug);
            }
        }
        double* c = &w.c[size_t(ch) * N_ * LM_];
        for (int l = 0; l <= L_; ++l)
            for (int n = 0; n < N_; ++n) {
                const double a = fR[l * N_ + n];
                double* cn = c + n * LM_ + l * l;
                const double* Yl = Y + l * l;
                for (int m = 0; m < 2 * l + 1; ++m) cn[m] += a * Yl[m];
            }
    }
    // centre atom: a Gaussian at the origin, l = 0 only
    const int ci = chan_[species_(f.numbers[i])];
    for (int n = 0; n < N_; ++n) w.c[(size_t(ci) * N_ + n) * LM_] += centre_c_[n];
    power(w);
}

const double* SoapDescriptor::factor(const std::vector<double>& c, const std::vector<int>& row, int nrow,
                                     std::vector<double>& out) const {
    if (full_) return c.data();
    out.assign(size_t(nrow) * LM_, 0.0);
    for (int u = 0; u < K_; ++u) {
        const double* cu = c.data() + size_t(u) * LM_;
        double* o = out.data() + size_t(row[u]) * LM_;
        for (int lm = 0; lm < LM_; ++lm) o[lm] += cu[lm];
    }
    return out.data();
}

void SoapDescriptor::power(Work& w) const {
    w.p.resize(size_);
    const double* A = factor(w.c, rowA_, nA_, w.A);
    const double* B = sym_ ? A : factor(w.c, rowB_, nB_, w.B);
    RowMat P(nB_, nA_);
    for (int l = 0; l <= L_; ++l) {
        CStridedMap Al(A + l * l, nA_, 2 * l + 1, Eigen::OuterStride<>(LM_));
        CStridedMap Bl(B + l * l, nB_, 2 * l + 1, Eigen::OuterStride<>(LM_));
        P.noalias() = Bl * Al.transpose();
        double* pl = w.p.data() + l * npair_;
        const double kl = kl_[l];
        for (int64_t k = 0; k < npair_; ++k) pl[k] = kl * pair_w_[k] * P(pair_u_[k], pair_v_[k]);
    }
    double s = 0.0;
    for (double v : w.p) s += v * v;
    w.norm = std::sqrt(s);
}

void SoapDescriptor::features(const Work& w, double* G) const {
    if (p_.normalize) {
        const double inv = 1.0 / w.norm;
        for (int64_t k = 0; k < size_; ++k) G[k] = w.p[k] * inv;
    } else {
        std::copy(w.p.begin(), w.p.begin() + size_, G);
    }
}

void SoapDescriptor::adjoint_pairs(Work& w, const double* g, double* g_out) const {
    // dE/dp
    w.gp.resize(size_);
    if (p_.normalize) {
        const double inv = 1.0 / w.norm;
        double qg = 0.0;
        for (int64_t k = 0; k < size_; ++k) qg += w.p[k] * inv * g[k];
        for (int64_t k = 0; k < size_; ++k) w.gp[k] = (g[k] - w.p[k] * inv * qg) * inv;
    } else {
        std::copy(g, g + size_, w.gp.begin());
    }
    adjoint_pairs_raw(w, w.gp.data(), g_out);
}

void SoapDescriptor::coefficient_cotangent(const Work& w, const double* gp, double* D) const {
    // p = kl s B A^T per l: with G_ij = kl s_ij g_ij (symmetric case: G_ii = 2 kl g_ii, G_ij = G_ji = kl sqrt(2) g_ij),
    // dE/dB = G A, dE/dA = G^T B (symmetric: dE/dA = G A only), then dE/dc_u = dE/dA_{rowA(u)} + dE/dB_{rowB(u)}
    thread_local RowMat Gm;
    thread_local std::vector<double> dA, dB;
    Gm.resize(nB_, nA_);
    const double* A = full_ ? w.c.data() : w.A.data();
    const double* B = sym_ ? A : w.B.data();
    double* outA = D;
    if (!full_) {
        dA.resize(size_t(nA_) * LM_);
        outA = dA.data();
        if (!sym_) dB.resize(size_t(nB_) * LM_);
    }
    for (int l = 0; l <= L_; ++l) {
        const double* gl = gp + l * npair_;
        const double kl = kl_[l];
        if (sym_) {
            for (int64_t k = 0; k < npair_; ++k) {
                const int u = pair_u_[k], v = pair_v_[k];
                if (u == v) {
                    Gm(u, u) = 2.0 * kl * gl[k];
                } else {
                    const double val = kl * pair_w_[k] * gl[k];
                    Gm(u, v) = val;
                    Gm(v, u) = val;
                }
            }
        } else {
            for (int64_t k = 0; k < npair_; ++k) Gm(pair_u_[k], pair_v_[k]) = kl * gl[k];
        }
        const int w2 = 2 * l + 1;
        CStridedMap Al(A + l * l, nA_, w2, Eigen::OuterStride<>(LM_));
        StridedMap dAl(outA + l * l, nA_, w2, Eigen::OuterStride<>(LM_));
        if (sym_) {
            dAl.noalias() = Gm * Al;
        } else {
            CStridedMap Bl(B + l * l, nB_, w2, Eigen::OuterStride<>(LM_));
            StridedMap dBl(dB.data() + l * l, nB_, w2, Eigen::OuterStride<>(LM_));
            dAl.noalias() = Gm.transpose() * Bl;
            dBl.noalias() = Gm * Al;
        }
    }
    if (full_) return;
    for (int u = 0; u < K_; ++u) {
        double* Du = D + size_t(u) * LM_;
        const double* a = dA.data() + size_t(rowA_[u]) * LM_;
        std::copy(a, a + LM_, Du);
        if (!sym_) {
            const double* bb = dB.data() + size_t(rowB_[u]) * LM_;
            for (int lm = 0; lm < LM_; ++lm) Du[lm] += bb[lm];
        }
    }
}

namespace {
// gradient of E over one neighbour's vector vec (length r): the radial part dE/dr along vec / r plus the angular part g
inline void store_pair_gradient(const double* vec, double r, double radial, double gx, double gy, double gz,
                                double* out) {
    const double ir = 1.0 / r;
    out[0] = radial * vec[0] * ir + gx;
    out[1] = radial * vec[1] * ir + gy;
    out[2] = radial * vec[2] * ir + gz;
}
}  // namespace

void SoapDescriptor::adjoint_pairs_raw(Work& w, const double* gp, double* g_out) const {
    if (!sym_ && nA_ == 1) {
        // factor A has one row: contract over m and n per neighbour (see adjoint_batch_one_row), with
        // G_{i,l} = kl g_{(l, i)} and dA_lm = sum_i G_{i,l} B_{i,lm}
        const int L1 = L_ + 1;
        w.D.assign(size_t(nB_) * L1 + LM_, 0.0);
        double* G = w.D.data();        // [i][l]
        double* dA = G + size_t(nB_) * L1;
        for (int l = 0; l <= L_; ++l)
            for (int i = 0; i < nB_; ++i) {
                const double gi = kl_[l] * gp[l * npair_ + i];
                G[i * L1 + l] = gi;
                const double* Bi = w.B.data() + size_t(i) * LM_;
                for (int lm = l * l; lm < (l + 1) * (l + 1); ++lm) dA[lm] += gi * Bi[lm];
            }
        const double* A = w.A.data();
        const int NL = N_ * L1;
        for (int64_t e = 0; e < w.nb; ++e) {
            const double* fR = &w.fR[e * NL];
            const double* dfR = &w.dfR[e * NL];
            const double* Y = &w.Y[e * LM_];
            const double* dY = &w.dY[3 * e * LM_];
            const int* rb = rowB_.data() + size_t(w.ch[e]) * N_;
            double rad = 0.0, gx = 0.0, gy = 0.0, gz = 0.0;
            for (int l = 0; l <= L_; ++l) {
                // sum_n G_{rowB(a,n), l} (dfR, fR) and (sum_n dfR, sum_n fR)
                double gd = 0.0, gf = 0.0, sd = 0.0, sf = 0.0;
                for (int n = 0; n < N_; ++n) {
                    const double gi = G[rb[n] * L1 + l];
                    gd += gi * dfR[l * N_ + n];
                    gf += gi * fR[l * N_ + n];
                    sd += dfR[l * N_ + n];
                    sf += fR[l * N_ + n];
                }
                for (int lm = l * l; lm < (l + 1) * (l + 1); ++lm) {
                    const double a = gd * A[lm] + sd * dA[lm];   // times u Y_lm
                    const double b = gf * A[lm] + sf * dA[lm];   // times dY_lm
                    rad += a * Y[lm];
                    gx += b * dY[3 * lm];
                    gy += b * dY[3 * lm + 1];
                    gz += b * dY[3 * lm + 2];
                }
            }
            store_pair_gradient(&w.vec[3 * e], w.r[e], rad, gx, gy, gz, g_out + 3 * e);
        }
        return;
    }
    w.D.resize(size_t(K_) * LM_);
    coefficient_cotangent(w, gp, w.D.data());
    pair_gradients(w, w.D.data(), g_out);
}

void SoapDescriptor::pair_gradients(const Work& w, const double* D, double* g_out) const {
    const int NL = N_ * (L_ + 1);
    for (int64_t e = 0; e < w.nb; ++e) {
        const double* fR = &w.fR[e * NL];
        const double* dfR = &w.dfR[e * NL];
        const double* Y = &w.Y[e * LM_];
        const double* dY = &w.dY[3 * e * LM_];
        const double* Dc = &D[size_t(w.ch[e]) * N_ * LM_];
        double A = 0.0, gx = 0.0, gy = 0.0, gz = 0.0;
        for (int l = 0; l <= L_; ++l)
            for (int m = 0; m < 2 * l + 1; ++m) {
                const int lm = l * l + m;
                double a = 0.0, b = 0.0;
                for (int n = 0; n < N_; ++n) {
                    const double d = Dc[n * LM_ + lm];
                    a += d * dfR[l * N_ + n];
                    b += d * fR[l * N_ + n];
                }
                A += a * Y[lm];
                gx += b * dY[3 * lm];
                gy += b * dY[3 * lm + 1];
                gz += b * dY[3 * lm + 2];
            }
        store_pair_gradient(&w.vec[3 * e], w.r[e], A, gx, gy, gz, g_out + 3 * e);
    }
}

void SoapDescriptor::fill_g(const double* gl, double kl, double* G) const {
    for (int64_t k = 0; k < npair_; ++k) {
        const int u = pair_u_[k], v = pair_v_[k];
        if (u == v) {
            G[u * K_ + u] = 2.0 * kl * gl[k];
        } else {
            const double val = kl * pair_w_[k] * gl[k];
            G[u * K_ + v] = val;
            G[v * K_ + u] = val;
        }
    }
}

void SoapDescriptor::adjoint_pairs_raw_batch(const Work& w, const double* X, int64_t R, const double* c,
                                             const double* t, const double* q, BatchWork& bw, double* g_out) const {
    if (!sym_ && nA_ == 1) return adjoint_batch_one_row(w, X, R, c, t, q, bw, g_out);
    // channels with neighbours (rows of D that the pair gradients read) and with density (columns of C that are
    // not zero: those plus the centre's channel, which only has the l = 0 centre term)
    std::vector<char> has_nb(nch_, 0), has_c(nch_, 0);
    for (int64_t e = 0; e < w.nb; ++e) has_nb[w.ch[e]] = has_c[w.ch[e]] = 1;
    bw.rows_u.clear();
    bw.cols_v.clear();
    bw.row_chan.assign(nch_, -1);
    for (int a = 0; a < nch_; ++a) {
        // the centre's channel: c is nonzero there (the centre Gaussian) even without neighbours
        bool col = has_c[a];
        if (!col)
            for (int n = 0; n < N_ && !col; ++n) col = w.c[(size_t(a) * N_ + n) * LM_] != 0.0;
        if (has_nb[a]) {
            bw.row_chan[a] = static_cast<int>(bw.rows_u.size() / N_);
            for (int n = 0; n < N_; ++n) bw.rows_u.push_back(a * N_ + n);
        }
        if (col)
            for (int n = 0; n < N_; ++n) bw.cols_v.push_back(a * N_ + n);
    }
    const int Kr = static_cast<int>(bw.rows_u.size()), Kc = static_cast<int>(bw.cols_v.size());
    if (Kr == 0) return;
    const int64_t RK = R * Kr;
    bw.D.resize(size_t(RK) * LM_);
    if (!full_) {
        // compressed: D_r = c_r (D(x_r) - t_r D(q)) from the (short) spectrum's coefficient cotangent, rows_u gathered
        const size_t KL = size_t(K_) * LM_;
        bw.Dfull.resize(KL);
        if (q) {
            bw.Dq.resize(KL);
            coefficient_cotangent(w, q, bw.Dq.data());
        }
        for (int64_t r = 0; r < R; ++r) {
            coefficient_cotangent(w, X + r * size_, bw.Dfull.data());
            double* Dr = bw.D.data() + size_t(r) * Kr * LM_;
            const double cr = c[r], tr = q ? t[r] : 0.0;
            for (int iu = 0; iu < Kr; ++iu) {
                const double* src = bw.Dfull.data() + size_t(bw.rows_u[iu]) * LM_;
                double* dst = Dr + size_t(iu) * LM_;
                if (q) {
                    const double* sq = bw.Dq.data() + size_t(bw.rows_u[iu]) * LM_;
                    for (int lm = 0; lm < LM_; ++lm) dst[lm] = cr * (src[lm] - tr * sq[lm]);
                } else {
                    for (int lm = 0; lm < LM_; ++lm) dst[lm] = cr * src[lm];
                }
            }
        }
    } else {
        bw.DQ.resize(size_t(Kr) * LM_);
        bw.Gq.resize(size_t(K_) * K_);
        bw.Xc.resize(size_t(RK) * Kc);
        bw.Gq.resize(std::max<size_t>(bw.Gq.size(), size_t(Kr) * Kc));
        for (int l = 0; l <= L_; ++l) {
            const int w2 = 2 * l + 1;
            bw.Cc.resize(size_t(Kc) * w2);
            for (int iv = 0; iv < Kc; ++iv)
                for (int m = 0; m < w2; ++m) bw.Cc[iv * w2 + m] = w.c[size_t(bw.cols_v[iv]) * LM_ + l * l + m];
            const double kl = kl_[l];
            for (int64_t r = 0; r < R; ++r) {
                const double* xl = X + r * size_ + l * npair_;
                for (int iu = 0; iu < Kr; ++iu) {
                    const int64_t* po = pair_of_.data() + size_t(bw.rows_u[iu]) * K_;
                    const double* pg = pair_g_.data() + size_t(bw.rows_u[iu]) * K_;
                    double* dst = bw.Xc.data() + (r * Kr + iu) * Kc;
                    for (int iv = 0; iv < Kc; ++iv) {
                        const int v = bw.cols_v[iv];
                        dst[iv] = kl * pg[v] * xl[po[v]];
                    }
                }
            }
            Eigen::Map<const RowMat> Xm(bw.Xc.data(), RK, Kc);
            Eigen::Map<const RowMat> Cm(bw.Cc.data(), Kc, w2);
            StridedMap D(bw.D.data() + l * l, RK, w2, Eigen::OuterStride<>(LM_));
            D.noalias() = Xm * Cm;
            if (q) {
                std::vector<double>& full = bw.out;   // scratch: G_l(q) K x K
                full.resize(size_t(K_) * K_);
                fill_g(q + l * npair_, kl_[l], full.data());
                for (int iu = 0; iu < Kr; ++iu)
                    for (int iv = 0; iv < Kc; ++iv) bw.Gq[iu * Kc + iv] = full[size_t(bw.rows_u[iu]) * K_ + bw.cols_v[iv]];
                Eigen::Map<const RowMat> Gq(bw.Gq.data(), Kr, Kc);
                StridedMap DQ(bw.DQ.data() + l * l, Kr, w2, Eigen::OuterStride<>(LM_));
                DQ.noalias() = Gq * Cm;
            }
        }
        for (int64_t r = 0; r < R; ++r) {
            double* Dr = bw.D.data() + size_t(r) * Kr * LM_;
            const double cr = c[r];
            if (q) {
                const double tr = t[r];
                for (int64_t k = 0; k < int64_t(Kr) * LM_; ++k) Dr[k] = cr * (Dr[k] - tr * bw.DQ[k]);
            } else {
                for (int64_t k = 0; k < int64_t(Kr) * LM_; ++k) Dr[k] *= cr;
            }
        }
    }
    // per channel: J [N LM, 3 nb_ch], g^T [3 nb_ch, R] = J^T D_ch^T with D_ch [R, N LM] (outer stride Kr LM)
    const int NL = N_ * (L_ + 1), NLM = N_ * LM_;
    for (int ch = 0; ch < nch_; ++ch) {
        if (bw.row_chan[ch] < 0) continue;
        bw.cols.clear();
        for (int64_t e = 0; e < w.nb; ++e)
            if (w.ch[e] == ch) bw.cols.push_back(e);
        const int64_t nc = bw.cols.size();
        bw.J.resize(size_t(3 * nc) * NLM);
        // J^T stored row-major [3 nc, N LM]: row 3c + k, column n LM + lm
        for (int64_t cc = 0; cc < nc; ++cc) {
            const int64_t e = bw.cols[cc];
            const double* fR = &w.fR[e * NL];
            const double* dfR = &w.dfR[e * NL];
            const double* Y = &w.Y[e * LM_];
            const double* dY = &w.dY[3 * e * LM_];
            const double ir = 1.0 / w.r[e];
            const double u[3] = {w.vec[3 * e] * ir, w.vec[3 * e + 1] * ir, w.vec[3 * e + 2] * ir};
            for (int k = 0; k < 3; ++k) {
                double* row = bw.J.data() + (3 * cc + k) * NLM;
                for (int n = 0; n < N_; ++n)
                    for (int l = 0; l <= L_; ++l) {
                        const double a = dfR[l * N_ + n] * u[k], b = fR[l * N_ + n];
                        for (int lm = l * l; lm < (l + 1) * (l + 1); ++lm)
                            row[n * LM_ + lm] = a * Y[lm] + b * dY[3 * lm + k];
                    }
            }
        }
        Eigen::Map<const RowMat> Jt(bw.J.data(), 3 * nc, NLM);
        CStridedMap Dch(bw.D.data() + size_t(bw.row_chan[ch]) * N_ * LM_, R, NLM, Eigen::OuterStride<>(Kr * LM_));
        bw.out.resize(size_t(3 * nc) * R);
        Eigen::Map<RowMat> out(bw.out.data(), 3 * nc, R);
        out.noalias() = Jt * Dch.transpose();
        for (int64_t cc = 0; cc < nc; ++cc)
            for (int k = 0; k < 3; ++k)
                std::copy(bw.out.begin() + (3 * cc + k) * R, bw.out.begin() + (3 * cc + k + 1) * R,
                          g_out + (3 * bw.cols[cc] + k) * R);
    }
}

// Batched adjoint when the factor A has one row (nu_R, nu_S < 2, not both 0: mu1nu1 and (0, 1), (1, 0)). Then
//   dE/dc_{u,lm} = G_{rowB(u), l} A_lm + dA_lm,   dA_lm = sum_i G_{i,l} B_{i,lm},   G_{i,l} = kl g_{(l, i)},
// and the pair gradient of neighbour e (channel a) contracts J_e = dc/dvec over m and over n first:
//   g_e = sum_{n,l} G_{rowB(a,n), l} JA_e[n,l] + sum_lm dA_lm JS_e[lm],
//   JA_e[n,l] = dfR_nl u (sum_m A_lm Y_lm) + fR_nl (sum_m A_lm dY_lm),  JS_e[lm] = (sum_n dfR_nl) u Y_lm + (sum_n fR_nl) dY_lm,
// two GEMMs per channel of inner sizes n_max (l_max+1) and (l_max+1)^2 instead of n_max (l_max+1)^2.
void SoapDescriptor::adjoint_batch_one_row(const Work& w, const double* X, int64_t R, const double* c, const double* t,
                                           const double* q, BatchWork& bw, double* g_out) const {
    const int L1 = L_ + 1, NL = N_ * L1;
    // G [l][r][i] = c_r kl (x_r - t_r q)_{(l, i)}
    bw.Xc.resize(size_t(L1) * R * nB_);
    for (int l = 0; l <= L_; ++l)
        for (int64_t r = 0; r < R; ++r) {
            const double* xl = X + r * size_ + l * npair_;
            double* dst = bw.Xc.data() + (size_t(l) * R + r) * nB_;
            const double f = c[r] * kl_[l];
            if (q) {
                const double* ql = q + l * npair_;
                const double tr = t[r];
                for (int i = 0; i < nB_; ++i) dst[i] = f * (xl[i] - tr * ql[i]);
            } else {
                for (int i = 0; i < nB_; ++i) dst[i] = f * xl[i];
            }
        }
    // dA [R, LM]
    bw.DQ.resize(size_t(R) * LM_);
    for (int l = 0; l <= L_; ++l) {
        const int w2 = 2 * l + 1;
        Eigen::Map<const RowMat> Gl(bw.Xc.data() + size_t(l) * R * nB_, R, nB_);
        CStridedMap Bl(w.B.data() + l * l, nB_, w2, Eigen::OuterStride<>(LM_));
        StridedMap dA(bw.DQ.data() + l * l, R, w2, Eigen::OuterStride<>(LM_));
        dA.noalias() = Gl * Bl;
    }
    const double* A = w.A.data();
    std::vector<char> has_nb(nch_, 0);
    for (int64_t e = 0; e < w.nb; ++e) has_nb[w.ch[e]] = 1;
    for (int ch = 0; ch < nch_; ++ch) {
        if (!has_nb[ch]) continue;
        bw.cols.clear();
        for (int64_t e = 0; e < w.nb; ++e)
            if (w.ch[e] == ch) bw.cols.push_back(e);
        const int64_t nc = bw.cols.size();
        // GA [R, N (L+1)]: column n (L+1) + l = G[l][r][rowB(ch, n)]
        bw.Gq.resize(size_t(R) * NL);
        for (int64_t r = 0; r < R; ++r)
            for (int n = 0; n < N_; ++n) {
                const int i = rowB_[ch * N_ + n];
                for (int l = 0; l <= L_; ++l) bw.Gq[r * NL + n * L1 + l] = bw.Xc[(size_t(l) * R + r) * nB_ + i];
            }
        // JA [3 nc, N (L+1)] and JS [3 nc, LM]
        bw.J.resize(size_t(3 * nc) * NL);
        bw.Cc.resize(size_t(3 * nc) * LM_);
        for (int64_t cc = 0; cc < nc; ++cc) {
            const int64_t e = bw.cols[cc];
            const double* fR = &w.fR[e * NL];
            const double* dfR = &w.dfR[e * NL];
            const double* Y = &w.Y[e * LM_];
            const double* dY = &w.dY[3 * e * LM_];
            const double ir = 1.0 / w.r[e];
            const double u[3] = {w.vec[3 * e] * ir, w.vec[3 * e + 1] * ir, w.vec[3 * e + 2] * ir};
            for (int l = 0; l <= L_; ++l) {
                double AY = 0.0, AdY[3] = {0.0, 0.0, 0.0}, sf = 0.0, sdf = 0.0;
                for (int lm = l * l; lm < (l + 1) * (l + 1); ++lm) {
                    AY += A[lm] * Y[lm];
                    for (int k = 0; k < 3; ++k) AdY[k] += A[lm] * dY[3 * lm + k];
                }
                for (int n = 0; n < N_; ++n) {
                    sf += fR[l * N_ + n];
                    sdf += dfR[l * N_ + n];
                }
                for (int k = 0; k < 3; ++k) {
                    double* ja = bw.J.data() + (3 * cc + k) * NL;
                    for (int n = 0; n < N_; ++n) ja[n * L1 + l] = dfR[l * N_ + n] * u[k] * AY + fR[l * N_ + n] * AdY[k];
                    double* js = bw.Cc.data() + (3 * cc + k) * LM_;
                    for (int lm = l * l; lm < (l + 1) * (l + 1); ++lm) js[lm] = sdf * u[k] * Y[lm] + sf * dY[3 * lm + k];
                }
            }
        }
        Eigen::Map<const RowMat> JA(bw.J.data(), 3 * nc, NL), JS(bw.Cc.data(), 3 * nc, LM_);
        Eigen::Map<const RowMat> GA(bw.Gq.data(), R, NL), dA(bw.DQ.data(), R, LM_);
        bw.out.resize(size_t(3 * nc) * R);
        Eigen::Map<RowMat> out(bw.out.data(), 3 * nc, R);
        out.noalias() = JA * GA.transpose();
        out.noalias() += JS * dA.transpose();
        for (int64_t cc = 0; cc < nc; ++cc)
            for (int k = 0; k < 3; ++k)
                std::copy(bw.out.begin() + (3 * cc + k) * R, bw.out.begin() + (3 * cc + k + 1) * R,
                          g_out + (3 * bw.cols[cc] + k) * R);
    }
}

// ------------------------------------------------------------------------------------------------ contract

void SoapDescriptor::forward(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1, double* G) const {
    thread_local Work w;
    for (int64_t i = a0; i < a1; ++i) {
        expand(f, nl, i, false, w);
        features(w, G + size_ * i);
    }
}

namespace {
void scatter_pairs(const SoapDescriptor::Work& w, int64_t i, const double* g, double* forces, double* virial) {
    for (int64_t e = 0; e < w.nb; ++e) {
        const double* ge = g + 3 * e;
        const int32_t j = w.j[e];
        for (int k = 0; k < 3; ++k) {
            forces[3 * j + k] -= ge[k];
            forces[3 * i + k] += ge[k];
        }
        add_pair_virial(virial, &w.vec[3 * e], ge);
    }
}
}  // namespace

void SoapDescriptor::backward(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1,
                              const double* dEdG, double* forces, double* virial) const {
    thread_local Work w;
    thread_local std::vector<double> g;
    for (int64_t i = a0; i < a1; ++i) {
        expand(f, nl, i, true, w);
        g.resize(3 * w.nb);
        adjoint_pairs(w, dEdG + size_ * i, g.data());
        scatter_pairs(w, i, g.data(), forces, virial);
    }
}

void SoapDescriptor::forward_backward(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1,
                                      const AdjointFn& fn, double* forces, double* virial) const {
    thread_local Work w;
    thread_local std::vector<double> G, dEdG, g;
    G.resize(size_);
    dEdG.resize(size_);
    for (int64_t i = a0; i < a1; ++i) {
        expand(f, nl, i, forces != nullptr, w);
        features(w, G.data());
        fn(i, G.data(), dEdG.data());
        if (forces) {
            g.resize(3 * w.nb);
            adjoint_pairs(w, dEdG.data(), g.data());
            scatter_pairs(w, i, g.data(), forces, virial);
        }
    }
}

void SoapDescriptor::tangent(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1, const double* v,
                             double* dG) const {
    thread_local Work w;
    thread_local std::vector<double> dc, dp, dAbuf, dBbuf;
    const int NL = N_ * (L_ + 1);
    RowMat P(nB_, nA_);
    for (int64_t i = a0; i < a1; ++i) {
        expand(f, nl, i, true, w);
        dc.assign(size_t(K_) * LM_, 0.0);
        const double* vi = v + 3 * i;
        for (int64_t e = 0; e < w.nb; ++e) {
            const double* vj = v + 3 * w.j[e];
            const double dl[3] = {vj[0] - vi[0], vj[1] - vi[1], vj[2] - vi[2]};
            const double ir = 1.0 / w.r[e];
            const double ud = (w.vec[3 * e] * dl[0] + w.vec[3 * e + 1] * dl[1] + w.vec[3 * e + 2] * dl[2]) * ir;
            const double* fR = &w.fR[e * NL];
            const double* dfR = &w.dfR[e * NL];
            const double* Y = &w.Y[e * LM_];
            const double* dY = &w.dY[3 * e * LM_];
            double* c = &dc[size_t(w.ch[e]) * N_ * LM_];
            for (int l = 0; l <= L_; ++l)
                for (int m = 0; m < 2 * l + 1; ++m) {
                    const int lm = l * l + m;
                    const double y = Y[lm] * ud;
                    const double dy = dY[3 * lm] * dl[0] + dY[3 * lm + 1] * dl[1] + dY[3 * lm + 2] * dl[2];
                    for (int n = 0; n < N_; ++n) c[n * LM_ + lm] += dfR[l * N_ + n] * y + fR[l * N_ + n] * dy;
                }
        }
        dp.resize(size_);
        // dP = dB A^T + B dA^T (symmetric: dA A^T + A dA^T, whose (u, v) entry is P(u, v) + P(v, u) with P = dA A^T)
        const double* A = full_ ? w.c.data() : w.A.data();
        const double* B = sym_ ? A : w.B.data();
        const double* dA = factor(dc, rowA_, nA_, dAbuf);
        const double* dB = sym_ ? dA : factor(dc, rowB_, nB_, dBbuf);
        for (int l = 0; l <= L_; ++l) {
            const int w2 = 2 * l + 1;
            CStridedMap Al(A + l * l, nA_, w2, Eigen::OuterStride<>(LM_));
            CStridedMap dAl(dA + l * l, nA_, w2, Eigen::OuterStride<>(LM_));
            double* pl = dp.data() + l * npair_;
            if (sym_) {
                P.noalias() = dAl * Al.transpose();
                for (int64_t k = 0; k < npair_; ++k)
                    pl[k] = kl_[l] * pair_w_[k] * (P(pair_u_[k], pair_v_[k]) + P(pair_v_[k], pair_u_[k]));
            } else {
                CStridedMap Bl(B + l * l, nB_, w2, Eigen::OuterStride<>(LM_));
                CStridedMap dBl(dB + l * l, nB_, w2, Eigen::OuterStride<>(LM_));
                P.noalias() = dBl * Al.transpose() + Bl * dAl.transpose();
                for (int64_t k = 0; k < npair_; ++k) pl[k] = kl_[l] * pair_w_[k] * P(pair_u_[k], pair_v_[k]);
            }
        }
        double* out = dG + size_ * i;
        if (p_.normalize) {
            const double inv = 1.0 / w.norm;
            double qd = 0.0;
            for (int64_t k = 0; k < size_; ++k) qd += w.p[k] * inv * dp[k];
            for (int64_t k = 0; k < size_; ++k) out[k] = (dp[k] - w.p[k] * inv * qd) * inv;
        } else {
            std::copy(dp.begin(), dp.end(), out);
        }
    }
}

}  // namespace ldrx
