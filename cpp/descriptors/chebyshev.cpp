#include "descriptors/chebyshev.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace ldrx {
namespace {

constexpr double kPi = 3.14159265358979323846;

// aenet's cosine cut-off fc(r) = (cos(pi r / rc) + 1) / 2 and its derivative, for 0 <= r < rc.
// With y = pi (r / rc - 1/2) in [-pi/2, pi/2): cos(pi r / rc) = -sin y and sin(pi r / rc) = cos y,
// evaluated by their Taylor series to y^23 / y^24 (truncation below 2e-18 on the interval), so the loop
// over neighbours vectorises; agrees with libm to a few ulp.
inline void cosine_cutoff(double r, double inv_rc, double& fc, double& dfc) {
    const double y = kPi * (r * inv_rc - 0.5);
    const double y2 = y * y;
    // sin y = y (1 - y^2/3! + y^4/5! - ...), cos y = 1 - y^2/2! + ...
    double s = -1.0 / 25852016738884976640000.0;  // -1/23!
    s = s * y2 + 1.0 / 51090942171709440000.0;    // 1/21!
    s = s * y2 - 1.0 / 121645100408832000.0;      // 1/19!
    s = s * y2 + 1.0 / 355687428096000.0;
    s = s * y2 - 1.0 / 1307674368000.0;
    s = s * y2 + 1.0 / 6227020800.0;
    s = s * y2 - 1.0 / 39916800.0;
    s = s * y2 + 1.0 / 362880.0;
    s = s * y2 - 1.0 / 5040.0;
    s = s * y2 + 1.0 / 120.0;
    s = s * y2 - 1.0 / 6.0;
    s = (s * y2 + 1.0) * y;
    double c = 1.0 / 620448401733239439360000.0;  // 1/24!
    c = c * y2 - 1.0 / 1124000727777607680000.0;  // 1/22!
    c = c * y2 + 1.0 / 2432902008176640000.0;     // 1/20!
    c = c * y2 - 1.0 / 6402373705728000.0;
    c = c * y2 + 1.0 / 20922789888000.0;
    c = c * y2 - 1.0 / 87178291200.0;
    c = c * y2 + 1.0 / 479001600.0;
    c = c * y2 - 1.0 / 3628800.0;
    c = c * y2 + 1.0 / 40320.0;
    c = c * y2 - 1.0 / 720.0;
    c = c * y2 + 1.0 / 24.0;
    c = c * y2 - 0.5;
    c = c * y2 + 1.0;
    fc = 0.5 * (1.0 - s);
    dfc = -0.5 * kPi * inv_rc * c;
}

}  // namespace

std::vector<double> aenet_typespin(int n) {
    std::vector<double> s(n);
    int v = -(n / 2);
    for (int i = 0; i < n; ++i) {
        if (n % 2 == 0 && v == 0) ++v;
        s[i] = v++;
    }
    return s;
}

// Per-thread scratch for one centre atom, in structure-of-arrays layout so the loops over neighbours
// vectorise. "r" arrays hold the neighbours within the radial cut-off, "a" arrays those within the
// angular one.
struct ChebyshevDescriptor::Work {
    // neighbours within one cut-off: atom, distance, typespin weight, unit vector, fc, fc'
    struct Shell {
        int64_t n = 0;
        std::vector<int32_t> j;
        std::vector<double> d, s, ux, uy, uz, fc, dfc;
        void reserve(int64_t cap) {
            n = 0;
            if (static_cast<int64_t>(j.size()) >= cap) return;
            j.resize(cap);
            for (auto* v : {&d, &s, &ux, &uy, &uz, &fc, &dfc}) v->resize(cap);
        }
        void push(int32_t atom, double r, double weight, const double* vec) {
            j[n] = atom;
            d[n] = r;
            s[n] = weight;
            ux[n] = vec[0] / r;
            uy[n] = vec[1] / r;
            uz[n] = vec[2] / r;
            ++n;
        }
        void cutoffs(double inv_rc) {
#pragma omp simd
            for (int64_t p = 0; p < n; ++p) cosine_cutoff(d[p], inv_rc, fc[p], dfc[p]);
        }
    };
    Shell rad, ang;
    std::vector<double> rx;                               // radial: 2r/Rr - 1
    std::vector<double> T0, T1, U0, U1, acc;              // Chebyshev recursions, per-neighbour sums
    std::vector<double> dR;                               // d(T_n fc)/dr [n * nr + p]
    std::vector<double> PI, C, S, Z, Zx, Zy, Zz;          // harmonics [q * na + p] and their u-gradients
    std::vector<double> A, Aw;                            // moments
    double D = 0.0, Dw = 0.0;
};

ChebyshevDescriptor::ChebyshevDescriptor(const ChebyshevParams& p) : p_(p), species_(p.species) {
    if (!(p.radial_cutoff > 0) || !(p.angular_cutoff > 0))
        throw std::invalid_argument("Chebyshev cut-offs must be positive");
    if (p.radial_order < 0 || p.angular_order < 0) throw std::invalid_argument("Chebyshev orders must be >= 0");
    if (p.angular_order > 40) throw std::invalid_argument("angular order above 40 is not supported");
    if (p_.weights.empty()) p_.weights = aenet_typespin(static_cast<int>(p.species.size()));
    if (p_.weights.size() != p.species.size())
        throw std::invalid_argument("one typespin weight per species is needed");
    weighted_ = p.species.size() > 1;
    nr_ = p.radial_order + 1;
    na_ = p.angular_order + 1;
    nlm_ = na_ * na_;
    size_ = (weighted_ ? 2 : 1) * (nr_ + na_);

    // Chebyshev -> Legendre: T_{n+1} = 2x T_n - T_{n-1}, x P_l = ((l+1) P_{l+1} + l P_{l-1}) / (2l+1)
    b_.assign(na_ * na_, 0.0);
    b_[0] = 1.0;
    if (na_ > 1) b_[na_ + 1] = 1.0;
    for (int n = 1; n + 1 < na_; ++n) {
        double* next = &b_[(n + 1) * na_];
        const double* cur = &b_[n * na_];
        const double* prev = &b_[(n - 1) * na_];
        for (int l = 0; l < na_; ++l) {
            if (cur[l] == 0.0) continue;
            if (l + 1 < na_) next[l + 1] += 2.0 * cur[l] * (l + 1) / (2.0 * l + 1);
            if (l > 0) next[l - 1] += 2.0 * cur[l] * l / (2.0 * l + 1);
        }
        for (int l = 0; l < na_; ++l) next[l] -= prev[l];
    }
    // Schmidt factors sqrt(2 (l-m)! / (l+m)!) for m > 0
    norm_.assign(na_ * na_, 1.0);
    for (int l = 0; l < na_; ++l)
        for (int m = 1; m <= l; ++m) {
            double ratio = 1.0;  // (l-m)! / (l+m)!
            for (int k = l - m + 1; k <= l + m; ++k) ratio /= k;
            norm_[l * na_ + m] = std::sqrt(2.0 * ratio);
        }
}

double ChebyshevDescriptor::cutoff() const { return std::max(p_.radial_cutoff, p_.angular_cutoff); }

// Gathers the neighbours of centre i into the SoA arrays, with cut-off values, and (angular) the real
// harmonics Z_lm(u) and, with `derivatives`, their gradients with respect to u, plus the moments.
void ChebyshevDescriptor::expand(const FrameView& f, const NeighbourList& nl, int64_t i, bool derivatives,
                                 Work& w) const {
    const double Rr = p_.radial_cutoff, Ra = p_.angular_cutoff;
    const double inv_rr = 1.0 / Rr, inv_ra = 1.0 / Ra;
    const int64_t cap = nl.end(i) - nl.begin(i);
    w.rad.reserve(cap);
    w.ang.reserve(cap);
    for (auto* v : {&w.rx, &w.T0, &w.T1, &w.U0, &w.U1, &w.acc})
        if (static_cast<int64_t>(v->size()) < cap) v->resize(cap);
    for (int64_t p = nl.begin(i); p < nl.end(i); ++p) {
        const double r = nl.dist[p];
        if (r >= Rr && r >= Ra) continue;
        const int32_t j = nl.index[p];
        const double s = weighted_ ? p_.weights[species_(f.numbers[j])] : 0.0;
        if (r < Rr) w.rad.push(j, r, s, &nl.vec[3 * p]);
        if (r < Ra) w.ang.push(j, r, s, &nl.vec[3 * p]);
    }
    w.rad.cutoffs(inv_rr);
    w.ang.cutoffs(inv_ra);
    for (int64_t p = 0; p < w.rad.n; ++p) w.rx[p] = 2.0 * w.rad.d[p] * inv_rr - 1.0;
    const int64_t na = w.ang.n;

    // real harmonics Z_lm (Schmidt semi-normalised: sum_m Z_lm(u) Z_lm(v) = P_l(u.v)), built from
    // Pi_l^m(z) = d^m P_l / dz^m and C_m + i S_m = (x + i y)^m
    const int L = na_ - 1, st = L + 2;
    w.PI.resize(static_cast<size_t>((L + 1) * st) * na);
    w.C.resize(static_cast<size_t>(L + 1) * na);
    w.S.resize(static_cast<size_t>(L + 1) * na);
    w.Z.resize(static_cast<size_t>(nlm_) * na);
    if (derivatives) {
        w.Zx.resize(w.Z.size());
        w.Zy.resize(w.Z.size());
        w.Zz.resize(w.Z.size());
    }
    auto PI = [&](int l, int m) { return &w.PI[static_cast<size_t>(l * st + m) * na]; };
    const double* z = w.ang.uz.data();
    double dfact = 1.0;  // (2m-1)!!
    for (int m = 0; m <= L; ++m) {
        if (m > 0) dfact *= (2 * m - 1);
        double* pmm = PI(m, m);
        for (int64_t p = 0; p < na; ++p) pmm[p] = dfact;
        if (m + 1 <= L) {
            double* q = PI(m + 1, m);
#pragma omp simd
            for (int64_t p = 0; p < na; ++p) q[p] = (2 * m + 1) * z[p] * dfact;
        }
        for (int l = m + 2; l <= L; ++l) {
            const double a = (2.0 * l - 1) / (l - m), b = (l + m - 1.0) / (l - m);
            double* q = PI(l, m);
            const double *q1 = PI(l - 1, m), *q2 = PI(l - 2, m);
#pragma omp simd
            for (int64_t p = 0; p < na; ++p) q[p] = a * z[p] * q1[p] - b * q2[p];
        }
    }
    double *C = w.C.data(), *S = w.S.data();
    for (int64_t p = 0; p < na; ++p) {
        C[p] = 1.0;
        S[p] = 0.0;
    }
    for (int m = 1; m <= L; ++m) {
        double *c = C + m * na, *s = S + m * na;
        const double *c1 = C + (m - 1) * na, *s1 = S + (m - 1) * na;
#pragma omp simd
        for (int64_t p = 0; p < na; ++p) {
            c[p] = w.ang.ux[p] * c1[p] - w.ang.uy[p] * s1[p];
            s[p] = w.ang.ux[p] * s1[p] + w.ang.uy[p] * c1[p];
        }
    }
    for (int l = 0; l <= L; ++l) {
        const int q0 = l * l + l;
        double* Zq = &w.Z[static_cast<size_t>(q0) * na];
        const double* P0 = PI(l, 0);
        for (int64_t p = 0; p < na; ++p) Zq[p] = P0[p];
        if (derivatives) {
            double* gx = &w.Zx[static_cast<size_t>(q0) * na];
            double* gy = &w.Zy[static_cast<size_t>(q0) * na];
            double* gz = &w.Zz[static_cast<size_t>(q0) * na];
            const double* P1 = l >= 1 ? PI(l, 1) : nullptr;
            for (int64_t p = 0; p < na; ++p) {
                gx[p] = 0.0;
                gy[p] = 0.0;
                gz[p] = P1 ? P1[p] : 0.0;
            }
        }
        for (int m = 1; m <= l; ++m) {
            const double N = norm_[l * na_ + m];
            const double* Pm = PI(l, m);
            const double* Pm1 = m + 1 <= l ? PI(l, m + 1) : nullptr;
            const double *cm = C + m * na, *sm = S + m * na, *cm1 = C + (m - 1) * na, *sm1 = S + (m - 1) * na;
            double* Zc = &w.Z[static_cast<size_t>(q0 + m) * na];
            double* Zs = &w.Z[static_cast<size_t>(q0 - m) * na];
#pragma omp simd
            for (int64_t p = 0; p < na; ++p) {
                Zc[p] = N * Pm[p] * cm[p];
                Zs[p] = N * Pm[p] * sm[p];
            }
            if (!derivatives) continue;
            double *cx = &w.Zx[static_cast<size_t>(q0 + m) * na], *cy = &w.Zy[static_cast<size_t>(q0 + m) * na],
                   *cz = &w.Zz[static_cast<size_t>(q0 + m) * na];
            double *sx = &w.Zx[static_cast<size_t>(q0 - m) * na], *sy = &w.Zy[static_cast<size_t>(q0 - m) * na],
                   *sz = &w.Zz[static_cast<size_t>(q0 - m) * na];
#pragma omp simd
            for (int64_t p = 0; p < na; ++p) {
                const double a = N * Pm[p], a1 = Pm1 ? N * Pm1[p] : 0.0;
                cx[p] = m * a * cm1[p];
                cy[p] = -m * a * sm1[p];
                cz[p] = a1 * cm[p];
                sx[p] = m * a * sm1[p];
                sy[p] = m * a * cm1[p];
                sz[p] = a1 * sm[p];
            }
        }
    }
    // moments
    w.A.assign(nlm_, 0.0);
    w.Aw.assign(nlm_, 0.0);
    for (int q = 0; q < nlm_; ++q) {
        const double* Zq = &w.Z[static_cast<size_t>(q) * na];
        double a = 0.0, aw = 0.0;
#pragma omp simd reduction(+ : a, aw)
        for (int64_t p = 0; p < na; ++p) {
            a += w.ang.fc[p] * Zq[p];
            aw += w.ang.s[p] * w.ang.fc[p] * Zq[p];
        }
        w.A[q] = a;
        w.Aw[q] = aw;
    }
    double D = 0.0, Dw = 0.0;
#pragma omp simd reduction(+ : D, Dw)
    for (int64_t p = 0; p < na; ++p) {
        D += w.ang.fc[p] * w.ang.fc[p];
        Dw += w.ang.s[p] * w.ang.s[p] * w.ang.fc[p] * w.ang.fc[p];
    }
    w.D = D;
    w.Dw = Dw;
}

// G of centre i from its expansion.
void ChebyshevDescriptor::features(Work& w, double* g) const {
    double* rad = g;
    double* ang = g + nr_;
    double* rad_w = g + nr_ + na_;
    double* ang_w = g + 2 * nr_ + na_;
    // radial: G_n = sum_p T_n(x_p) fc_p, by the recursion over n for all neighbours at once
    const int64_t n = w.rad.n;
    double *Tm = w.T0.data(), *Tc = w.T1.data();
    for (int k = 0; k < nr_; ++k) {
        double sum = 0.0, sumw = 0.0;
        if (k == 0) {
#pragma omp simd reduction(+ : sum, sumw)
            for (int64_t p = 0; p < n; ++p) {
                Tc[p] = 1.0;
                sum += w.rad.fc[p];
                sumw += w.rad.s[p] * w.rad.fc[p];
            }
        } else if (k == 1) {
            std::swap(Tm, Tc);
#pragma omp simd reduction(+ : sum, sumw)
            for (int64_t p = 0; p < n; ++p) {
                Tc[p] = w.rx[p];
                sum += Tc[p] * w.rad.fc[p];
                sumw += w.rad.s[p] * Tc[p] * w.rad.fc[p];
            }
        } else {
#pragma omp simd reduction(+ : sum, sumw)
            for (int64_t p = 0; p < n; ++p) {
                const double t = 2.0 * w.rx[p] * Tc[p] - Tm[p];
                Tm[p] = t;
                sum += t * w.rad.fc[p];
                sumw += w.rad.s[p] * t * w.rad.fc[p];
            }
            std::swap(Tm, Tc);
        }
        rad[k] = sum;
        if (weighted_) rad_w[k] = sumw;
    }
    // angular through the moments
    for (int k = 0; k < na_; ++k) {
        ang[k] = -0.5 * w.D;
        if (weighted_) ang_w[k] = -0.5 * w.Dw;
    }
    for (int l = 0; l < na_; ++l) {
        double P = 0.0, Pw = 0.0;
        for (int q = l * l; q < (l + 1) * (l + 1); ++q) {
            P += w.A[q] * w.A[q];
            Pw += w.Aw[q] * w.Aw[q];
        }
        for (int k = 0; k < na_; ++k) {
            ang[k] += 0.5 * b_[k * na_ + l] * P;
            if (weighted_) ang_w[k] += 0.5 * b_[k * na_ + l] * Pw;
        }
    }
}

void ChebyshevDescriptor::forward(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1,
                                  double* G) const {
    thread_local Work w;
    for (int64_t i = a0; i < a1; ++i) {
        expand(f, nl, i, false, w);
        features(w, G + size_ * i);
    }
}

// dR[n * nr + p] = d(T_n(x_p) fc_p)/dr = T_n'(x) (2 / Rr) fc + T_n(x) fc', with T_n' = n U_{n-1}, for
// all radial neighbours p: the one table that the adjoint (sums over n) and the tangent (sums over p)
// both contract.
static void radial_derivatives(int nr_terms, double two_over_rr, int64_t n, const double* x, const double* fc,
                               const double* dfc, double* T0, double* T1, double* U0, double* U1, double* dR) {
    for (int k = 0; k < nr_terms; ++k) {
        double* out = dR + k * n;
#pragma omp simd
        for (int64_t p = 0; p < n; ++p) {
            double t, u;  // T_k(x), U_{k-1}(x); (T0, T1) hold T_{k-2}, T_{k-1} and (U0, U1) U_{k-3}, U_{k-2}
            if (k == 0) {
                t = 1.0;
                u = 0.0;
            } else if (k == 1) {
                t = x[p];
                u = 1.0;
            } else {
                t = 2.0 * x[p] * T1[p] - T0[p];
                u = 2.0 * x[p] * U1[p] - U0[p];
            }
            out[p] = k * u * two_over_rr * fc[p] + t * dfc[p];
            T0[p] = k == 0 ? 0.0 : T1[p];
            U0[p] = k == 0 ? 0.0 : U1[p];
            T1[p] = t;
            U1[p] = u;
        }
    }
}

// Forces and virial of E = g . G_i, centre i, from its expansion (with derivatives).
void ChebyshevDescriptor::adjoint(int64_t i, Work& w, const double* g, double* forces, double* virial) const {
    thread_local std::vector<double> dA, dAw, mu, muw, nx, ny, nz, nxw, nyw, nzw;
    const double two_over_rr = 2.0 / p_.radial_cutoff;
    dA.resize(nlm_);
    dAw.resize(nlm_);
    const double* g_rad = g;
    const double* g_ang = g + nr_;
    const double* g_rad_w = g + nr_ + na_;
    const double* g_ang_w = g + 2 * nr_ + na_;
    double vir[6] = {0, 0, 0, 0, 0, 0};
    auto scatter = [&](int32_t j, const double* gv, double r, const double* u) {
        for (int c = 0; c < 3; ++c) {
            forces[3 * j + c] -= gv[c];
            forces[3 * i + c] += gv[c];
        }
        const double d[3] = {u[0] * r, u[1] * r, u[2] * r};
        add_pair_virial(vir, d, gv);
    };
    // radial: dE/dr_p = sum_n (g_n + s_p gw_n) d(T_n fc)/dr
    const int64_t nrn = w.rad.n;
    w.dR.resize(static_cast<size_t>(nr_) * nrn);
    radial_derivatives(nr_, two_over_rr, nrn, w.rx.data(), w.rad.fc.data(), w.rad.dfc.data(), w.T0.data(),
                       w.T1.data(), w.U0.data(), w.U1.data(), w.dR.data());
    for (int64_t p = 0; p < nrn; ++p) w.acc[p] = 0.0;
    for (int k = 0; k < nr_; ++k) {
        const double* d = &w.dR[static_cast<size_t>(k) * nrn];
        const double c = g_rad[k], cw = weighted_ ? g_rad_w[k] : 0.0;
#pragma omp simd
        for (int64_t p = 0; p < nrn; ++p) w.acc[p] += (c + cw * w.rad.s[p]) * d[p];
    }
    for (int64_t p = 0; p < nrn; ++p) {
        const double dEdr = w.acc[p];
        const double u[3] = {w.rad.ux[p], w.rad.uy[p], w.rad.uz[p]};
        const double gv[3] = {dEdr * u[0], dEdr * u[1], dEdr * u[2]};
        scatter(w.rad.j[p], gv, w.rad.d[p], u);
    }
    // angular: E = sum_l beta_l P_l + gamma D (+ typespin copy), with P_l = sum_m A_lm^2
    double gamma = 0.0, gamma_w = 0.0;
    for (int k = 0; k < na_; ++k) {
        gamma -= 0.5 * g_ang[k];
        if (weighted_) gamma_w -= 0.5 * g_ang_w[k];
    }
    for (int l = 0; l < na_; ++l) {
        double beta = 0.0, beta_w = 0.0;
        for (int k = 0; k < na_; ++k) {
            beta += 0.5 * g_ang[k] * b_[k * na_ + l];
            if (weighted_) beta_w += 0.5 * g_ang_w[k] * b_[k * na_ + l];
        }
        for (int q = l * l; q < (l + 1) * (l + 1); ++q) {
            dA[q] = 2.0 * beta * w.A[q];
            dAw[q] = 2.0 * beta_w * w.Aw[q];
        }
    }
    const int64_t nan = w.ang.n;
    for (auto* v : {&mu, &muw, &nx, &ny, &nz, &nxw, &nyw, &nzw}) v->assign(nan, 0.0);
    for (int q = 0; q < nlm_; ++q) {
        const size_t o = static_cast<size_t>(q) * nan;
        const double c = dA[q], cw = dAw[q];
#pragma omp simd
        for (int64_t p = 0; p < nan; ++p) {
            mu[p] += c * w.Z[o + p];
            nx[p] += c * w.Zx[o + p];
            ny[p] += c * w.Zy[o + p];
            nz[p] += c * w.Zz[o + p];
            muw[p] += cw * w.Z[o + p];
            nxw[p] += cw * w.Zx[o + p];
            nyw[p] += cw * w.Zy[o + p];
            nzw[p] += cw * w.Zz[o + p];
        }
    }
    for (int64_t p = 0; p < nan; ++p) {
        const double s = w.ang.s[p], F = w.ang.fc[p], dF = w.ang.dfc[p], r = w.ang.d[p];
        const double u[3] = {w.ang.ux[p], w.ang.uy[p], w.ang.uz[p]};
        const double m = mu[p] + s * muw[p];
        const double nu[3] = {nx[p] + s * nxw[p], ny[p] + s * nyw[p], nz[p] + s * nzw[p]};
        const double un = u[0] * nu[0] + u[1] * nu[1] + u[2] * nu[2];
        const double radial = dF * m + 2.0 * (gamma + gamma_w * s * s) * F * dF;
        double gv[3];
        for (int c = 0; c < 3; ++c) gv[c] = radial * u[c] + F * (nu[c] - un * u[c]) / r;
        scatter(w.ang.j[p], gv, r, u);
    }
    for (int k = 0; k < 6; ++k) virial[k] += vir[k];
}

void ChebyshevDescriptor::backward(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1,
                                   const double* dEdG, double* forces, double* virial) const {
    thread_local Work w;
    for (int64_t i = a0; i < a1; ++i) {
        expand(f, nl, i, true, w);
        adjoint(i, w, dEdG + size_ * i, forces, virial);
    }
}

void ChebyshevDescriptor::forward_backward(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1,
                                           const AdjointFn& fn, double* forces, double* virial) const {
    thread_local Work w;
    thread_local std::vector<double> G, dEdG;
    G.resize(size_);
    dEdG.resize(size_);
    for (int64_t i = a0; i < a1; ++i) {
        expand(f, nl, i, true, w);
        features(w, G.data());
        fn(i, G.data(), dEdG.data());
        if (forces) adjoint(i, w, dEdG.data(), forces, virial);
    }
}

void ChebyshevDescriptor::tangent(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1,
                                  const double* v, double* dG) const {
    thread_local Work w;
    thread_local std::vector<double> dr, tA, tAw, ta, tux, tuy, tuz;
    const double two_over_rr = 2.0 / p_.radial_cutoff;
    tA.resize(nlm_);
    tAw.resize(nlm_);
    for (int64_t i = a0; i < a1; ++i) {
        expand(f, nl, i, true, w);
        double* g = dG + size_ * i;
        std::fill(g, g + size_, 0.0);
        double* rad = g;
        double* ang = g + nr_;
        double* rad_w = g + nr_ + na_;
        double* ang_w = g + 2 * nr_ + na_;
        const double* vi = v + 3 * i;
        // radial: dG_n = sum_p d(T_n fc)/dr (u_p . (v_j - v_i))
        const int64_t n = w.rad.n;
        dr.resize(std::max<int64_t>(n, w.ang.n));
        for (int64_t p = 0; p < n; ++p) {
            const double* vj = v + 3 * w.rad.j[p];
            dr[p] = w.rad.ux[p] * (vj[0] - vi[0]) + w.rad.uy[p] * (vj[1] - vi[1]) + w.rad.uz[p] * (vj[2] - vi[2]);
        }
        w.dR.resize(static_cast<size_t>(nr_) * n);
        radial_derivatives(nr_, two_over_rr, n, w.rx.data(), w.rad.fc.data(), w.rad.dfc.data(), w.T0.data(), w.T1.data(),
                           w.U0.data(), w.U1.data(), w.dR.data());
        for (int k = 0; k < nr_; ++k) {
            const double* d = &w.dR[static_cast<size_t>(k) * n];
            double sum = 0.0, sumw = 0.0;
#pragma omp simd reduction(+ : sum, sumw)
            for (int64_t p = 0; p < n; ++p) {
                sum += d[p] * dr[p];
                sumw += w.rad.s[p] * d[p] * dr[p];
            }
            rad[k] = sum;
            if (weighted_) rad_w[k] = sumw;
        }
        // angular: dA_q = sum_p [F' dr Z_q + F grad Z_q . du], du = (dd - (u . dd) u) / r
        const int64_t na = w.ang.n;
        ta.resize(na);
        tux.resize(na);
        tuy.resize(na);
        tuz.resize(na);
        double tD = 0.0, tDw = 0.0;
        for (int64_t p = 0; p < na; ++p) {
            const double* vj = v + 3 * w.ang.j[p];
            const double dd[3] = {vj[0] - vi[0], vj[1] - vi[1], vj[2] - vi[2]};
            const double u[3] = {w.ang.ux[p], w.ang.uy[p], w.ang.uz[p]};
            const double d = u[0] * dd[0] + u[1] * dd[1] + u[2] * dd[2];
            const double ir = 1.0 / w.ang.d[p];
            ta[p] = w.ang.dfc[p] * d;
            tux[p] = w.ang.fc[p] * (dd[0] - d * u[0]) * ir;
            tuy[p] = w.ang.fc[p] * (dd[1] - d * u[1]) * ir;
            tuz[p] = w.ang.fc[p] * (dd[2] - d * u[2]) * ir;
            tD += 2.0 * w.ang.fc[p] * ta[p];
            tDw += 2.0 * w.ang.s[p] * w.ang.s[p] * w.ang.fc[p] * ta[p];
        }
        for (int q = 0; q < nlm_; ++q) {
            const size_t o = static_cast<size_t>(q) * na;
            double a = 0.0, aw = 0.0;
#pragma omp simd reduction(+ : a, aw)
            for (int64_t p = 0; p < na; ++p) {
                const double t = ta[p] * w.Z[o + p] + w.Zx[o + p] * tux[p] + w.Zy[o + p] * tuy[p] + w.Zz[o + p] * tuz[p];
                a += t;
                aw += w.ang.s[p] * t;
            }
            tA[q] = a;
            tAw[q] = aw;
        }
        for (int l = 0; l < na_; ++l) {
            double tP = 0.0, tPw = 0.0;
            for (int q = l * l; q < (l + 1) * (l + 1); ++q) {
                tP += 2.0 * w.A[q] * tA[q];
                tPw += 2.0 * w.Aw[q] * tAw[q];
            }
            for (int k = 0; k < na_; ++k) {
                ang[k] += 0.5 * b_[k * na_ + l] * tP;
                if (weighted_) ang_w[k] += 0.5 * b_[k * na_ + l] * tPw;
            }
        }
        for (int k = 0; k < na_; ++k) {
            ang[k] -= 0.5 * tD;
            if (weighted_) ang_w[k] -= 0.5 * tDw;
        }
    }
}

}  // namespace ldrx
