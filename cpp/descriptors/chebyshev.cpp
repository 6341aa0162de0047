#include "descriptors/chebyshev.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace ldrx {
namespace {

constexpr double kPi = 3.14159265358979323846;

// aenet's cosine cut-off and its derivative.
inline void cutoff_fn(double r, double rc, double& fc, double& dfc) {
    const double a = kPi / rc;
    fc = 0.5 * (std::cos(a * r) + 1.0);
    dfc = -0.5 * a * std::sin(a * r);
}

// Chebyshev polynomials T_n(x) and their derivatives dT_n/dx = n U_{n-1}(x), n = 0..N-1.
inline void chebyshev(double x, int N, double* T, double* dT) {
    double t0 = 1.0, t1 = x, u0 = 1.0, u1 = 2.0 * x;  // T_0, T_1, U_0, U_1
    T[0] = 1.0;
    dT[0] = 0.0;
    if (N > 1) {
        T[1] = x;
        dT[1] = 1.0;
    }
    for (int n = 2; n < N; ++n) {
        const double t2 = 2.0 * x * t1 - t0;
        T[n] = t2;
        dT[n] = n * u1;  // n U_{n-1}
        const double u2 = 2.0 * x * u1 - u0;
        t0 = t1;
        t1 = t2;
        u0 = u1;
        u1 = u2;
    }
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

struct ChebyshevDescriptor::Work {
    // per angular neighbour p: index into the neighbour list, F, F', weight, Z_q, grad Z_q
    std::vector<int64_t> pair;
    std::vector<double> F, dF, s, Z, dZ;
    std::vector<double> A, Aw;  // moments A_lm, typespin-weighted moments
    double D = 0.0, Dw = 0.0;   // sum F^2, sum s^2 F^2
    std::vector<double> T, dT, PI, C, S;
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

void ChebyshevDescriptor::expand(const FrameView& f, const NeighbourList& nl, int64_t i, bool derivatives,
                                 Work& w) const {
    const double Ra = p_.angular_cutoff;
    const int L = na_ - 1;
    w.pair.clear();
    w.F.clear();
    w.dF.clear();
    w.s.clear();
    w.Z.clear();
    w.dZ.clear();
    w.A.assign(nlm_, 0.0);
    w.Aw.assign(nlm_, 0.0);
    w.D = w.Dw = 0.0;
    w.PI.assign((L + 1) * (L + 2), 0.0);
    w.C.resize(L + 1);
    w.S.resize(L + 1);
    for (int64_t p = nl.begin(i); p < nl.end(i); ++p) {
        const double r = nl.dist[p];
        if (r >= Ra) continue;
        const double* d = &nl.vec[3 * p];
        const double x = d[0] / r, y = d[1] / r, z = d[2] / r;
        double F, dF;
        cutoff_fn(r, Ra, F, dF);
        const double s = p_.weights[species_(f.numbers[nl.index[p]])];
        // Pi[l][m] = d^m P_l / dz^m, m = 0..l+1 (row stride L + 2)
        double* PI = w.PI.data();
        const int st = L + 2;
        double dfact = 1.0;  // (2m-1)!!
        for (int m = 0; m <= L; ++m) {
            if (m > 0) dfact *= (2 * m - 1);
            PI[m * st + m] = dfact;
            if (m + 1 <= L) PI[(m + 1) * st + m] = (2 * m + 1) * z * dfact;
            for (int l = m + 2; l <= L; ++l)
                PI[l * st + m] = ((2 * l - 1) * z * PI[(l - 1) * st + m] - (l + m - 1) * PI[(l - 2) * st + m]) / (l - m);
        }
        w.C[0] = 1.0;
        w.S[0] = 0.0;
        for (int m = 1; m <= L; ++m) {
            w.C[m] = x * w.C[m - 1] - y * w.S[m - 1];
            w.S[m] = x * w.S[m - 1] + y * w.C[m - 1];
        }
        const size_t zoff = w.Z.size();
        w.Z.resize(zoff + nlm_);
        double* Z = &w.Z[zoff];
        double* dZ = nullptr;
        if (derivatives) {
            w.dZ.resize(3 * (zoff + nlm_));
            dZ = &w.dZ[3 * zoff];
        }
        for (int l = 0; l <= L; ++l) {
            const int q0 = l * l + l;  // index of m = 0
            Z[q0] = PI[l * st];
            if (dZ) {
                dZ[3 * q0] = 0.0;
                dZ[3 * q0 + 1] = 0.0;
                dZ[3 * q0 + 2] = PI[l * st + 1];
            }
            for (int m = 1; m <= l; ++m) {
                const double N = norm_[l * na_ + m];
                const double Pm = N * PI[l * st + m], Pm1 = N * PI[l * st + m + 1];
                Z[q0 + m] = Pm * w.C[m];
                Z[q0 - m] = Pm * w.S[m];
                if (dZ) {
                    double* gc = &dZ[3 * (q0 + m)];
                    double* gs = &dZ[3 * (q0 - m)];
                    gc[0] = m * Pm * w.C[m - 1];
                    gc[1] = -m * Pm * w.S[m - 1];
                    gc[2] = Pm1 * w.C[m];
                    gs[0] = m * Pm * w.S[m - 1];
                    gs[1] = m * Pm * w.C[m - 1];
                    gs[2] = Pm1 * w.S[m];
                }
            }
        }
        for (int q = 0; q < nlm_; ++q) {
            w.A[q] += F * Z[q];
            w.Aw[q] += s * F * Z[q];
        }
        w.D += F * F;
        w.Dw += s * s * F * F;
        w.pair.push_back(p);
        w.F.push_back(F);
        w.dF.push_back(dF);
        w.s.push_back(s);
    }
}

void ChebyshevDescriptor::forward(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1,
                                  double* G) const {
    thread_local Work w;
    const double Rr = p_.radial_cutoff;
    w.T.resize(nr_);
    w.dT.resize(nr_);
    for (int64_t i = a0; i < a1; ++i) {
        double* g = G + size_ * i;
        std::fill(g, g + size_, 0.0);
        double* rad = g;
        double* ang = g + nr_;
        double* rad_w = g + nr_ + na_;
        double* ang_w = g + 2 * nr_ + na_;
        for (int64_t p = nl.begin(i); p < nl.end(i); ++p) {
            const double r = nl.dist[p];
            if (r >= Rr) continue;
            double fc, dfc;
            cutoff_fn(r, Rr, fc, dfc);
            chebyshev(2.0 * r / Rr - 1.0, nr_, w.T.data(), w.dT.data());
            for (int n = 0; n < nr_; ++n) rad[n] += w.T[n] * fc;
            if (weighted_) {
                const double s = p_.weights[species_(f.numbers[nl.index[p]])];
                for (int n = 0; n < nr_; ++n) rad_w[n] += s * w.T[n] * fc;
            }
        }
        expand(f, nl, i, false, w);
        for (int l = 0; l < na_; ++l) {
            double P = 0.0, Pw = 0.0;
            for (int q = l * l; q < (l + 1) * (l + 1); ++q) {
                P += w.A[q] * w.A[q];
                Pw += w.Aw[q] * w.Aw[q];
            }
            for (int n = 0; n < na_; ++n) {
                ang[n] += 0.5 * b_[n * na_ + l] * P;
                if (weighted_) ang_w[n] += 0.5 * b_[n * na_ + l] * Pw;
            }
        }
        for (int n = 0; n < na_; ++n) {
            ang[n] -= 0.5 * w.D;
            if (weighted_) ang_w[n] -= 0.5 * w.Dw;
        }
    }
}

void ChebyshevDescriptor::backward(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1,
                                   const double* dEdG, double* forces, double* virial) const {
    thread_local Work w;
    thread_local std::vector<double> dA, dAw, beta, beta_w;
    const double Rr = p_.radial_cutoff;
    w.T.resize(nr_);
    w.dT.resize(nr_);
    dA.resize(nlm_);
    dAw.resize(nlm_);
    beta.resize(na_);
    beta_w.resize(na_);
    for (int64_t i = a0; i < a1; ++i) {
        const double* g = dEdG + size_ * i;
        const double* g_rad = g;
        const double* g_ang = g + nr_;
        const double* g_rad_w = g + nr_ + na_;
        const double* g_ang_w = g + 2 * nr_ + na_;
        // radial terms, neighbour by neighbour
        for (int64_t p = nl.begin(i); p < nl.end(i); ++p) {
            const double r = nl.dist[p];
            if (r >= Rr) continue;
            double fc, dfc;
            cutoff_fn(r, Rr, fc, dfc);
            chebyshev(2.0 * r / Rr - 1.0, nr_, w.T.data(), w.dT.data());
            const double s = weighted_ ? p_.weights[species_(f.numbers[nl.index[p]])] : 0.0;
            double dEdr = 0.0;
            for (int n = 0; n < nr_; ++n) {
                const double c = g_rad[n] + (weighted_ ? s * g_rad_w[n] : 0.0);
                dEdr += c * (w.dT[n] * (2.0 / Rr) * fc + w.T[n] * dfc);
            }
            const double* d = &nl.vec[3 * p];
            const double gv[3] = {dEdr * d[0] / r, dEdr * d[1] / r, dEdr * d[2] / r};
            const int64_t j = nl.index[p];
            for (int k = 0; k < 3; ++k) {
                forces[3 * j + k] -= gv[k];
                forces[3 * i + k] += gv[k];
            }
            add_pair_virial(virial, d, gv);
        }
        // angular terms through the moments
        expand(f, nl, i, true, w);
        double gamma = 0.0, gamma_w = 0.0;
        for (int n = 0; n < na_; ++n) {
            gamma -= 0.5 * g_ang[n];
            if (weighted_) gamma_w -= 0.5 * g_ang_w[n];
        }
        for (int l = 0; l < na_; ++l) {
            beta[l] = beta_w[l] = 0.0;
            for (int n = 0; n < na_; ++n) {
                beta[l] += 0.5 * g_ang[n] * b_[n * na_ + l];
                if (weighted_) beta_w[l] += 0.5 * g_ang_w[n] * b_[n * na_ + l];
            }
            for (int q = l * l; q < (l + 1) * (l + 1); ++q) {
                dA[q] = 2.0 * beta[l] * w.A[q];
                dAw[q] = 2.0 * beta_w[l] * w.Aw[q];
            }
        }
        for (size_t k = 0; k < w.pair.size(); ++k) {
            const int64_t p = w.pair[k];
            const double r = nl.dist[p];
            const double* d = &nl.vec[3 * p];
            const double u[3] = {d[0] / r, d[1] / r, d[2] / r};
            const double F = w.F[k], dF = w.dF[k], s = w.s[k];
            const double* Z = &w.Z[k * nlm_];
            const double* dZ = &w.dZ[3 * k * nlm_];
            double mu = 0.0, nu[3] = {0.0, 0.0, 0.0};
            for (int q = 0; q < nlm_; ++q) {
                const double lam = dA[q] + (weighted_ ? s * dAw[q] : 0.0);
                mu += lam * Z[q];
                nu[0] += lam * dZ[3 * q];
                nu[1] += lam * dZ[3 * q + 1];
                nu[2] += lam * dZ[3 * q + 2];
            }
            const double un = u[0] * nu[0] + u[1] * nu[1] + u[2] * nu[2];
            const double radial = dF * mu + 2.0 * (gamma + (weighted_ ? gamma_w * s * s : 0.0)) * F * dF;
            double gv[3];
            for (int c = 0; c < 3; ++c) gv[c] = radial * u[c] + F * (nu[c] - un * u[c]) / r;
            const int64_t j = nl.index[p];
            for (int c = 0; c < 3; ++c) {
                forces[3 * j + c] -= gv[c];
                forces[3 * i + c] += gv[c];
            }
            add_pair_virial(virial, d, gv);
        }
    }
}

void ChebyshevDescriptor::tangent(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1,
                                  const double* v, double* dG) const {
    thread_local Work w;
    thread_local std::vector<double> tA, tAw;
    const double Rr = p_.radial_cutoff;
    w.T.resize(nr_);
    w.dT.resize(nr_);
    tA.resize(nlm_);
    tAw.resize(nlm_);
    for (int64_t i = a0; i < a1; ++i) {
        double* g = dG + size_ * i;
        std::fill(g, g + size_, 0.0);
        double* rad = g;
        double* ang = g + nr_;
        double* rad_w = g + nr_ + na_;
        double* ang_w = g + 2 * nr_ + na_;
        const double* vi = v + 3 * i;
        for (int64_t p = nl.begin(i); p < nl.end(i); ++p) {
            const double r = nl.dist[p];
            if (r >= Rr) continue;
            const double* d = &nl.vec[3 * p];
            const double* vj = v + 3 * nl.index[p];
            const double dr = (d[0] * (vj[0] - vi[0]) + d[1] * (vj[1] - vi[1]) + d[2] * (vj[2] - vi[2])) / r;
            double fc, dfc;
            cutoff_fn(r, Rr, fc, dfc);
            chebyshev(2.0 * r / Rr - 1.0, nr_, w.T.data(), w.dT.data());
            const double s = weighted_ ? p_.weights[species_(f.numbers[nl.index[p]])] : 0.0;
            for (int n = 0; n < nr_; ++n) {
                const double t = (w.dT[n] * (2.0 / Rr) * fc + w.T[n] * dfc) * dr;
                rad[n] += t;
                if (weighted_) rad_w[n] += s * t;
            }
        }
        expand(f, nl, i, true, w);
        std::fill(tA.begin(), tA.end(), 0.0);
        std::fill(tAw.begin(), tAw.end(), 0.0);
        double tD = 0.0, tDw = 0.0;
        for (size_t k = 0; k < w.pair.size(); ++k) {
            const int64_t p = w.pair[k];
            const double r = nl.dist[p];
            const double* d = &nl.vec[3 * p];
            const double* vj = v + 3 * nl.index[p];
            const double dd[3] = {vj[0] - vi[0], vj[1] - vi[1], vj[2] - vi[2]};
            const double u[3] = {d[0] / r, d[1] / r, d[2] / r};
            const double dr = u[0] * dd[0] + u[1] * dd[1] + u[2] * dd[2];
            const double du[3] = {(dd[0] - dr * u[0]) / r, (dd[1] - dr * u[1]) / r, (dd[2] - dr * u[2]) / r};
            const double F = w.F[k], dF = w.dF[k], s = w.s[k];
            const double* Z = &w.Z[k * nlm_];
            const double* dZ = &w.dZ[3 * k * nlm_];
            for (int q = 0; q < nlm_; ++q) {
                const double t = dF * dr * Z[q] + F * (dZ[3 * q] * du[0] + dZ[3 * q + 1] * du[1] + dZ[3 * q + 2] * du[2]);
                tA[q] += t;
                tAw[q] += s * t;
            }
            tD += 2.0 * F * dF * dr;
            tDw += 2.0 * s * s * F * dF * dr;
        }
        for (int l = 0; l < na_; ++l) {
            double tP = 0.0, tPw = 0.0;
            for (int q = l * l; q < (l + 1) * (l + 1); ++q) {
                tP += 2.0 * w.A[q] * tA[q];
                tPw += 2.0 * w.Aw[q] * tAw[q];
            }
            for (int n = 0; n < na_; ++n) {
                ang[n] += 0.5 * b_[n * na_ + l] * tP;
                if (weighted_) ang_w[n] += 0.5 * b_[n * na_ + l] * tPw;
            }
        }
        for (int n = 0; n < na_; ++n) {
            ang[n] -= 0.5 * tD;
            if (weighted_) ang_w[n] -= 0.5 * tDw;
        }
    }
}

}  // namespace ldrx
