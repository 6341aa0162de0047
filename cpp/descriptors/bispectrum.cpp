#include "descriptors/bispectrum.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "core/parallel.hpp"

// vendored Eigen: keep its own warnings out of the build log
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-variable"
#include <Eigen/Core>
#pragma GCC diagnostic pop

namespace ldrx {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kWself = 1.0;  // weight of the centre's own identity term

inline int64_t half_size(int j) { return int64_t(j / 2 + 1) * (j + 1); }

// Cosine switching function of LAMMPS (switchflag 1) and its derivative; 1 and 0 without switching.
inline void switching(bool on, double r, double rmin0, double rc, double& fc, double& dfc) {
    if (!on) {
        fc = 1.0;
        dfc = 0.0;
    } else if (r <= rmin0) {
        fc = 1.0;
        dfc = 0.0;
    } else if (r > rc) {
        fc = 0.0;
        dfc = 0.0;
    } else {
        const double s = kPi / (rc - rmin0);
        fc = 0.5 * (std::cos((r - rmin0) * s) + 1.0);
        dfc = -0.5 * std::sin((r - rmin0) * s) * s;
    }
}

// Completes layer j of a U-like array from its half plane 2 mb <= j, using
// U[j-ma][j-mb] = (-1)^(ma-mb) conj(U[ma][mb]); in the middle column (2 mb = j) the entries ma > j/2 are
// taken from ma < j/2, so the symmetry holds exactly.
inline void fill_by_symmetry(int j, double* ur, double* ui) {
    const int n = j + 1;
    for (int mb = 0; 2 * mb <= j; ++mb) {
        const int ma_end = (2 * mb == j) ? mb : n;  // middle column: only mirror its upper half
        for (int ma = 0; ma < ma_end; ++ma) {
            const int src = mb * n + ma, dst = (j - mb) * n + (j - ma);
            const double s = ((ma - mb) % 2 == 0) ? 1.0 : -1.0;
            ur[dst] = s * ur[src];
            ui[dst] = -s * ui[src];
        }
    }
}

// Half-plane sum sum_idx hw[idx] Re(conj(a[idx]) b[idx]) over the first n entries.
inline double half_dot(int64_t n, const double* hw, const double* ar, const double* ai, const double* br,
                       const double* bi) {
    double s = 0.0;
    for (int64_t q = 0; q < n; ++q) s += hw[q] * (ar[q] * br[q] + ai[q] * bi[q]);
    return s;
}

}  // namespace

int64_t bispectrum_ncoeff(int twojmax, int n_groups) {
    if (n_groups < 0) throw std::invalid_argument("n_groups must be >= 0");
    int64_t n = 0;
    for (int j1 = 0; j1 <= twojmax; ++j1)
        for (int j2 = 0; j2 <= j1; ++j2)
            for (int j = j1 - j2; j <= std::min(twojmax, j1 + j2); j += 2)
                if (j >= j1) ++n;
    return n_groups > 0 ? n * n_groups * n_groups * n_groups : n;
}

BispectrumDescriptor::BispectrumDescriptor(const BispectrumParams& p) : p_(p), species_(p.species) {
    if (p.twojmax < 0 || p.twojmax > kBispectrumMaxTwojmax)
        throw std::invalid_argument("twojmax must be in 0.." + std::to_string(kBispectrumMaxTwojmax) + ", got " +
                                    std::to_string(p.twojmax));
    if (!(p.rcutfac > 0.0) || !std::isfinite(p.rcutfac)) throw std::invalid_argument("rcutfac must be positive");
    if (!(p.rfac0 > 0.0 && p.rfac0 <= 1.0)) throw std::invalid_argument("rfac0 must be in (0, 1]");
    if (!(p.rmin0 >= 0.0) || !std::isfinite(p.rmin0)) throw std::invalid_argument("rmin0 must be >= 0");
    const int n = species_.size();
    if (static_cast<int>(p.radelem.size()) != n || static_cast<int>(p.wj.size()) != n)
        throw std::invalid_argument("one radelem and one wj per species are needed");
    for (int s = 0; s < n; ++s) {
        if (!(p.radelem[s] > 0.0) || !std::isfinite(p.radelem[s]))
            throw std::invalid_argument("radelem of atomic number " + std::to_string(p.species[s]) + " must be positive");
        if (!std::isfinite(p.wj[s]))
            throw std::invalid_argument("wj of atomic number " + std::to_string(p.species[s]) + " is not finite");
    }
    J2_ = p.twojmax;
    elem_.assign(n, 0);
    ne_ = 1;
    if (!p.chem.empty()) {
        if (static_cast<int>(p.chem.size()) != n) throw std::invalid_argument("chem needs one group per species");
        int g = 0;
        for (int s = 0; s < n; ++s) {
            if (p.chem[s] < 0 || p.chem[s] >= n)
                throw std::invalid_argument("the chem group of atomic number " + std::to_string(p.species[s]) +
                                            " must be in 0..n_species-1, got " + std::to_string(p.chem[s]));
            g = std::max(g, p.chem[s] + 1);
        }
        for (int e = 0; e < g; ++e)
            if (std::find(p.chem.begin(), p.chem.end(), e) == p.chem.end())
                throw std::invalid_argument("chem groups must be numbered 0..n_groups-1 without gaps; group " +
                                            std::to_string(e) + " has no species");
        ne_ = g;
        elem_ = p.chem;
    }
    rcut_.resize(n * n);
    max_cutoff_ = 0.0;
    for (int a = 0; a < n; ++a)
        for (int b = 0; b < n; ++b) {
            const double rc = p.rcutfac * (p.radelem[a] + p.radelem[b]);
            if (!(rc > p.rmin0))
                throw std::invalid_argument("the pair cut-off " + std::to_string(rc) + " of atomic numbers " +
                                            std::to_string(p.species[a]) + ", " + std::to_string(p.species[b]) +
                                            " is not above rmin0");
            rcut_[a * n + b] = rc;
            max_cutoff_ = std::max(max_cutoff_, rc);
        }
    if (max_cutoff_ > kBispectrumMaxCutoff)
        throw std::invalid_argument("the largest pair cut-off rcutfac (R_i + R_k) = " + std::to_string(max_cutoff_) +
                                    " A is above the supported " + std::to_string(kBispectrumMaxCutoff) + " A");
    make_indices();
    make_clebsch_gordan();
}

void BispectrumDescriptor::make_indices() {
    const int J = J2_;
    ublock_.assign(J + 2, 0);
    for (int j = 0; j <= J; ++j) ublock_[j + 1] = ublock_[j] + int64_t(j + 1) * (j + 1);
    idxu_ = ublock_[J + 1];

    hoff_.assign(J + 2, 0);
    for (int j = 0; j <= J; ++j) hoff_[j + 1] = hoff_[j] + half_size(j);
    nhalf_ = hoff_[J + 1];

    halfw_.assign(idxu_, 0.0);
    for (int j = 0; j <= J; ++j)
        for (int mb = 0; 2 * mb <= j; ++mb)
            for (int ma = 0; ma <= j; ++ma) {
                double w = 2.0;
                if (2 * mb == j) w = ma < mb ? 2.0 : (ma == mb ? 1.0 : 0.0);
                halfw_[ublock_[j] + mb * (j + 1) + ma] = w;
            }

    rootpq_.assign((J + 2) * (J + 2), 0.0);
    for (int p = 0; p <= J + 1; ++p)
        for (int q = 1; q <= J + 1; ++q) rootpq_[p * (J + 2) + q] = std::sqrt(double(p) / q);

    zindex_.assign((J + 1) * (J + 1) * (J + 1), -1);
    ztrip_.clear();
    btrip_.clear();
    int64_t zoff = 0, cgoff = 0;
    for (int j1 = 0; j1 <= J; ++j1)
        for (int j2 = 0; j2 <= j1; ++j2)
            for (int j = j1 - j2; j <= std::min(J, j1 + j2); j += 2) {
                zindex_[(j1 * (J + 1) + j2) * (J + 1) + j] = static_cast<int>(ztrip_.size());
                ztrip_.push_back({j1, j2, j, zoff, cgoff, j >= j1, -1, 0.0});
                zoff += half_size(j);
                cgoff += int64_t(j1 + 1) * (j2 + 1);
                if (j >= j1) btrip_.push_back({j1, j2, j});
            }
    idxz_ = zoff;
    cg_.assign(cgoff, 0.0);
    nb_ = static_cast<int64_t>(btrip_.size());
    ncoeff_ = p_.chem.empty() ? nb_ : nb_ * ne_ * ne_ * ne_;

    std::vector<int> bindex((J + 1) * (J + 1) * (J + 1), -1);
    for (size_t c = 0; c < btrip_.size(); ++c) {
        const Triple& t = btrip_[c];
        bindex[(t.j1 * (J + 1) + t.j2) * (J + 1) + t.j] = static_cast<int>(c);
    }
    auto bidx = [&](int j1, int j2, int j) { return bindex[(j1 * (J + 1) + j2) * (J + 1) + j]; };
    bz_.clear();
    bzero_.assign(nb_, 0.0);
    for (size_t c = 0; c < btrip_.size(); ++c) {
        const Triple& t = btrip_[c];
        bz_.push_back({zindex(t.j1, t.j2, t.j), zindex(t.j, t.j2, t.j1), zindex(t.j, t.j1, t.j2)});
        if (p_.bzeroflag) bzero_[c] = kWself * kWself * kWself * (p_.bnormflag ? 1.0 : t.j + 1.0);
    }
    // Which beta multiplies Z_{j1 j2 j} in Y^j, and with which factor: B_{j1 j2 j} contains U^j once and,
    // through the symmetries of the coupling, U^{j1} and U^{j2} with weights (j+1)/(j1+1), (j+1)/(j2+1).
    for (ZTriple& z : ztrip_) {
        const int j1 = z.j1, j2 = z.j2, j = z.j;
        if (j >= j1) {
            z.beta_index = bidx(j1, j2, j);
            z.beta_fac = (j1 == j) ? (j2 == j ? 3.0 : 2.0) : 1.0;
        } else if (j >= j2) {
            z.beta_index = bidx(j, j2, j1);
            z.beta_fac = (j2 == j ? 2.0 : 1.0) * (j1 + 1.0) / (j + 1.0);
        } else {
            z.beta_index = bidx(j2, j, j1);
            z.beta_fac = (j1 + 1.0) / (j + 1.0);
        }
        if (z.beta_index < 0) throw std::logic_error("bispectrum index tables are inconsistent");
    }
}

// Clebsch-Gordan coefficients C(j1 m1, j2 m2 | j m) by Racah's formula (VMK 8.2.1), in doubled labels.
void BispectrumDescriptor::make_clebsch_gordan() {
    const int J = J2_;
    std::vector<long double> fact(3 * J + 4, 1.0L);
    for (size_t k = 1; k < fact.size(); ++k) fact[k] = fact[k - 1] * static_cast<long double>(k);
    for (const ZTriple& t : ztrip_) {
        const int a = t.j1, b = t.j2, c = t.j;
        const long double delta = fact[(a + b - c) / 2] * fact[(a - b + c) / 2] * fact[(-a + b + c) / 2] /
                                  fact[(a + b + c) / 2 + 1];
        for (int m1 = 0; m1 <= a; ++m1)
            for (int m2 = 0; m2 <= b; ++m2) {
                const int al = 2 * m1 - a, be = 2 * m2 - b, ga = al + be;  // doubled projections
                double& out = cg_[t.cgoff + m1 * (b + 1) + m2];
                out = 0.0;
                if (ga < -c || ga > c) continue;
                const int zmin = std::max({0, -(c - b + al) / 2, -(c - a - be) / 2});
                const int zmax = std::min({(a + b - c) / 2, (a - al) / 2, (b + be) / 2});
                long double sum = 0.0L;
                for (int z = zmin; z <= zmax; ++z) {
                    const long double den = fact[z] * fact[(a + b - c) / 2 - z] * fact[(a - al) / 2 - z] *
                                            fact[(b + be) / 2 - z] * fact[(c - b + al) / 2 + z] *
                                            fact[(c - a - be) / 2 + z];
                    sum += ((z % 2) ? -1.0L : 1.0L) / den;
                }
                const long double pre = std::sqrt((c + 1) * delta * fact[(a + al) / 2] * fact[(a - al) / 2] *
                                                  fact[(b + be) / 2] * fact[(b - be) / 2] * fact[(c + ga) / 2] *
                                                  fact[(c - ga) / 2]);
                out = static_cast<double>(pre * sum);
            }
    }
}

BispectrumDescriptor::Work BispectrumDescriptor::make_work() const {
    Work w;
    w.utot_r.assign(ne_ * idxu_, 0.0);
    w.utot_i.assign(ne_ * idxu_, 0.0);
    w.zlist_r.assign(ne_ * ne_ * idxz_, 0.0);
    w.zlist_i.assign(ne_ * ne_ * idxz_, 0.0);
    w.ylist_r.assign(ne_ * idxu_, 0.0);
    w.ylist_i.assign(ne_ * idxu_, 0.0);
    w.dulist_r.assign(3 * idxu_, 0.0);
    w.dulist_i.assign(3 * idxu_, 0.0);
    return w;
}

BispectrumDescriptor::Work& BispectrumDescriptor::thread_work() const {
    thread_local Work w;
    if (w.utot_r.size() != static_cast<size_t>(ne_ * idxu_) || w.zlist_r.size() != static_cast<size_t>(ne_ * ne_ * idxz_) ||
        w.dulist_r.size() != static_cast<size_t>(3 * idxu_))
        w = make_work();
    return w;
}

// U^j of one neighbour by the recursion of VMK 4.8.2: column mb (2 mb <= j) of layer j from column mb of
// layer j-1,  U^j[ma][mb] = sqrt((j-ma)/(j-mb)) conj(a) U^{j-1}[ma][mb] - sqrt(ma/(j-mb)) conj(b) U^{j-1}[ma-1][mb],
// then the rest of the layer by symmetry.
void BispectrumDescriptor::uarray(double x, double y, double z, double z0, double r, double* ur, double* ui) const {
    const double r0inv = 1.0 / std::sqrt(r * r + z0 * z0);
    const double ar = z0 * r0inv, ai = -z * r0inv;
    const double br = y * r0inv, bi = -x * r0inv;
    const int P = J2_ + 2;
    ur[0] = 1.0;
    ui[0] = 0.0;
    for (int j = 1; j <= J2_; ++j) {
        double* cr = ur + ublock_[j];
        double* ci = ui + ublock_[j];
        const double* pr = ur + ublock_[j - 1];
        const double* pi = ui + ublock_[j - 1];
        for (int mb = 0; 2 * mb <= j; ++mb) {
            double* c_r = cr + mb * (j + 1);
            double* c_i = ci + mb * (j + 1);
            const double* p_r = pr + mb * j;
            const double* p_i = pi + mb * j;
            for (int ma = 0; ma <= j; ++ma) c_r[ma] = c_i[ma] = 0.0;
            for (int ma = 0; ma < j; ++ma) {
                const double ca = rootpq_[(j - ma) * P + (j - mb)];
                c_r[ma] += ca * (ar * p_r[ma] + ai * p_i[ma]);  // conj(a) U'
                c_i[ma] += ca * (ar * p_i[ma] - ai * p_r[ma]);
                const double cb = rootpq_[(ma + 1) * P + (j - mb)];
                c_r[ma + 1] -= cb * (br * p_r[ma] + bi * p_i[ma]);  // - conj(b) U'
                c_i[ma + 1] -= cb * (br * p_i[ma] - bi * p_r[ma]);
            }
        }
        fill_by_symmetry(j, cr, ci);
    }
}

void BispectrumDescriptor::compute_ui(const FrameView& f, const NeighbourList& nl, int64_t i, bool store_u,
                                      Work& w) const {
    const int n_sp = species_.size();
    w.centre = i;
    w.species = species_(f.numbers[i]);
    w.pair.clear();
    w.atom.clear();
    w.rij.clear();
    w.r.clear();
    w.rc.clear();
    w.w.clear();
    w.elem.clear();
    for (int64_t p = nl.begin(i); p < nl.end(i); ++p) {
        const int32_t k = nl.index[p];
        const int sk = species_(f.numbers[k]);
        const double rc = rcut_[w.species * n_sp + sk];
        if (!(nl.dist[p] < rc)) continue;
        w.pair.push_back(p);
        w.atom.push_back(k);
        w.rij.insert(w.rij.end(), &nl.vec[3 * p], &nl.vec[3 * p] + 3);
        w.r.push_back(nl.dist[p]);
        w.rc.push_back(rc);
        w.w.push_back(p_.wj[sk]);
        w.elem.push_back(elem_[sk]);
    }
    const size_t nn = w.r.size();
    std::fill(w.utot_r.begin(), w.utot_r.end(), 0.0);
    std::fill(w.utot_i.begin(), w.utot_i.end(), 0.0);
    const int ei = elem_[w.species];
    for (int e = 0; e < ne_; ++e)
        if (e == ei || p_.wselfallflag)
            for (int j = 0; j <= J2_; ++j)
                for (int m = 0; m <= j; ++m) w.utot_r[e * idxu_ + ublock_[j] + m * (j + 1) + m] = kWself;
    if (store_u) {
        w.ulist_r.resize(nn * idxu_);
        w.ulist_i.resize(nn * idxu_);
    } else {
        w.ulist_r.resize(idxu_);
        w.ulist_i.resize(idxu_);
    }
    for (size_t n = 0; n < nn; ++n) {
        double* ur = w.ulist_r.data() + (store_u ? n * idxu_ : 0);
        double* ui = w.ulist_i.data() + (store_u ? n * idxu_ : 0);
        const double r = w.r[n], rc = w.rc[n];
        const double theta0 = (r - p_.rmin0) * p_.rfac0 * kPi / (rc - p_.rmin0);
        const double z0 = r / std::tan(theta0);
        const double* d = &w.rij[3 * n];
        uarray(d[0], d[1], d[2], z0, r, ur, ui);
        double fc, dfc;
        switching(p_.switchflag, r, p_.rmin0, rc, fc, dfc);
        const double s = fc * w.w[n];
        double* tr = w.utot_r.data() + w.elem[n] * idxu_;
        double* ti = w.utot_i.data() + w.elem[n] * idxu_;
        for (int64_t q = 0; q < idxu_; ++q) {
            tr[q] += s * ur[q];
            ti[q] += s * ui[q];
        }
    }
}

void BispectrumDescriptor::z_triple(int it, const double* ar, const double* ai, const double* br, const double* bi,
                                     double* zr, double* zi) const {
    const ZTriple& t = ztrip_[it];
    const int j1 = t.j1, j2 = t.j2, j = t.j;
    const double* cg = &cg_[t.cgoff];
    const int s12 = j1 + j2 - j;  // 2 ma2 = 2 ma - j - 2 ma1 + j1 + j2
    for (int mb = 0; 2 * mb <= j; ++mb) {
        const int mb1min = std::max(0, (2 * mb - j - j2 + j1) / 2);
        const int mb1max = std::min(j1, (2 * mb - j + j2 + j1) / 2);
        for (int ma = 0; ma <= j; ++ma) {
            const int ma1min = std::max(0, (2 * ma - j - j2 + j1) / 2);
            const int ma1max = std::min(j1, (2 * ma - j + j2 + j1) / 2);
            double sr = 0.0, si = 0.0;
            for (int mb1 = mb1min; mb1 <= mb1max; ++mb1) {
                const int mb2 = (2 * mb - 2 * mb1 + s12) / 2;
                const double* u1r = ar + ublock_[j1] + mb1 * (j1 + 1);
                const double* u1i = ai + ublock_[j1] + mb1 * (j1 + 1);
                const double* u2r = br + ublock_[j2] + mb2 * (j2 + 1);
                const double* u2i = bi + ublock_[j2] + mb2 * (j2 + 1);
                double pr = 0.0, pi = 0.0;
                for (int ma1 = ma1min; ma1 <= ma1max; ++ma1) {
                    const int ma2 = (2 * ma - 2 * ma1 + s12) / 2;
                    const double c = cg[ma1 * (j2 + 1) + ma2];
                    pr += c * (u1r[ma1] * u2r[ma2] - u1i[ma1] * u2i[ma2]);
                    pi += c * (u1r[ma1] * u2i[ma2] + u1i[ma1] * u2r[ma2]);
                }
                const double c = cg[mb1 * (j2 + 1) + mb2];
                sr += c * pr;
                si += c * pi;
            }
            zr[mb * (j + 1) + ma] = sr;
            zi[mb * (j + 1) + ma] = si;
        }
    }
    if (p_.bnormflag) {
        const double s = t.j + 1.0;  // LAMMPS divides
        for (int64_t q = 0; q < half_size(t.j); ++q) {
            zr[q] /= s;
            zi[q] /= s;
        }
    }
}

void BispectrumDescriptor::compute_zi(Work& w, bool all) const {
    for (int e1 = 0; e1 < ne_; ++e1)
        for (int e2 = 0; e2 < ne_; ++e2) {
            const int64_t u1 = e1 * idxu_, u2 = e2 * idxu_, z0 = (e1 * ne_ + e2) * idxz_;
            for (size_t it = 0; it < ztrip_.size(); ++it) {
                const ZTriple& t = ztrip_[it];
                if (!all && !t.kept_b) continue;
                z_triple(static_cast<int>(it), &w.utot_r[u1], &w.utot_i[u1], &w.utot_r[u2], &w.utot_i[u2],
                         &w.zlist_r[z0 + t.zoff], &w.zlist_i[z0 + t.zoff]);
            }
        }
}

void BispectrumDescriptor::compute_bi(const Work& w, double* B) const {
    int64_t out = 0;
    const int ei = elem_[w.species];
    for (int e1 = 0; e1 < ne_; ++e1)
        for (int e2 = 0; e2 < ne_; ++e2) {
            const int64_t z0 = (e1 * ne_ + e2) * idxz_;
            for (int e3 = 0; e3 < ne_; ++e3) {
                const double* ur = &w.utot_r[e3 * idxu_];
                const double* ui = &w.utot_i[e3 * idxu_];
                const bool shift = p_.wselfallflag || (e1 == ei && e2 == ei && e3 == ei);  // B = 0 for a lone atom
                for (int64_t c = 0; c < nb_; ++c) {
                    const ZTriple& t = ztrip_[bz_[c].z];
                    const int64_t u0 = ublock_[t.j];
                    B[out++] = half_dot(half_size(t.j), &halfw_[u0], ur + u0, ui + u0, &w.zlist_r[z0 + t.zoff],
                                        &w.zlist_i[z0 + t.zoff]) -
                               (shift ? bzero_[c] : 0.0);
                }
            }
        }
}

void BispectrumDescriptor::compute_yi(const double* beta, Work& w) const {
    std::fill(w.ylist_r.begin(), w.ylist_r.end(), 0.0);
    std::fill(w.ylist_i.begin(), w.ylist_i.end(), 0.0);
    if (ne_ > 1 || p_.bnormflag) {
        // the three-term formula per component: Y_c^j += beta Z^{ab}_{j1 j2 j}, Y_a^{j1} += f1 beta Z^{cb}_{j j2 j1},
        // Y_b^{j2} += f2 beta Z^{ca}_{j j1 j2} for B^{abc}_{j1 j2 j}
        auto add = [&](int e, int jj, int ez1, int ez2, int z, double b) {
            double* yr = &w.ylist_r[e * idxu_ + ublock_[jj]];
            double* yi = &w.ylist_i[e * idxu_ + ublock_[jj]];
            const int64_t z0 = (ez1 * ne_ + ez2) * idxz_ + ztrip_[z].zoff;
            const double* zr = &w.zlist_r[z0];
            const double* zi = &w.zlist_i[z0];
            for (int64_t q = 0; q < half_size(jj); ++q) {
                yr[q] += b * zr[q];
                yi[q] += b * zi[q];
            }
        };
        int64_t c = 0;
        for (int ea = 0; ea < ne_; ++ea)
            for (int eb = 0; eb < ne_; ++eb)
                for (int ec = 0; ec < ne_; ++ec)
                    for (int64_t k = 0; k < nb_; ++k, ++c) {
                        const double b = beta[c];
                        if (b == 0.0) continue;
                        const Triple& t = btrip_[k];
                        const BTriple& bt = bz_[k];
                        const double f1 = p_.bnormflag ? 1.0 : (t.j + 1.0) / (t.j1 + 1.0);
                        const double f2 = p_.bnormflag ? 1.0 : (t.j + 1.0) / (t.j2 + 1.0);
                        add(ec, t.j, ea, eb, bt.z, b);
                        add(ea, t.j1, ec, eb, bt.z1, f1 * b);
                        add(eb, t.j2, ec, ea, bt.z2, f2 * b);
                    }
        return;
    }
    for (const ZTriple& t : ztrip_) {
        const double b = beta[t.beta_index] * t.beta_fac;
        if (b == 0.0) continue;
        double* yr = &w.ylist_r[ublock_[t.j]];
        double* yi = &w.ylist_i[ublock_[t.j]];
        const double* zr = &w.zlist_r[t.zoff];
        const double* zi = &w.zlist_i[t.zoff];
        const int64_t n = half_size(t.j);
        for (int64_t q = 0; q < n; ++q) {
            yr[q] += b * zr[q];
            yi[q] += b * zi[q];
        }
    }
}

void BispectrumDescriptor::compute_duidrj(int n, Work& w) const {
    w.du_elem = w.elem[n];
    const double* d = &w.rij[3 * n];
    const double x = d[0], y = d[1], z = d[2];
    const double r = w.r[n], rc = w.rc[n];
    const double rscale0 = p_.rfac0 * kPi / (rc - p_.rmin0);
    const double theta0 = (r - p_.rmin0) * rscale0;
    const double z0 = r / std::tan(theta0);
    const double dz0dr = z0 / r - rscale0 * (r * r + z0 * z0) / r;
    const double r0inv = 1.0 / std::sqrt(r * r + z0 * z0);
    const double ar = z0 * r0inv, ai = -z * r0inv, br = y * r0inv, bi = -x * r0inv;
    const double u[3] = {x / r, y / r, z / r};
    const double dr0invdr = -r0inv * r0inv * r0inv * (r + z0 * dz0dr);
    // derivatives of the Cayley-Klein parameters along x, y, z
    double dar[3], dai[3], dbr[3], dbi[3];
    for (int k = 0; k < 3; ++k) {
        const double dr0inv = dr0invdr * u[k];
        dar[k] = dz0dr * u[k] * r0inv + z0 * dr0inv;
        dai[k] = -z * dr0inv - (k == 2 ? r0inv : 0.0);
        dbr[k] = y * dr0inv + (k == 1 ? r0inv : 0.0);
        dbi[k] = -x * dr0inv - (k == 0 ? r0inv : 0.0);
    }
    const double* Ur = &w.ulist_r[n * idxu_];
    const double* Ui = &w.ulist_i[n * idxu_];
    double* dur[3] = {&w.dulist_r[0], &w.dulist_r[idxu_], &w.dulist_r[2 * idxu_]};
    double* dui[3] = {&w.dulist_i[0], &w.dulist_i[idxu_], &w.dulist_i[2 * idxu_]};
    const int P = J2_ + 2;
    for (int k = 0; k < 3; ++k) dur[k][0] = dui[k][0] = 0.0;
    // the recursion of uarray, differentiated (product rule), for the three directions at once
    for (int j = 1; j <= J2_; ++j) {
        const int64_t cur = ublock_[j], prev = ublock_[j - 1];
        for (int mb = 0; 2 * mb <= j; ++mb) {
            const int64_t c0 = cur + mb * (j + 1), p0 = prev + mb * j;
            for (int k = 0; k < 3; ++k)
                for (int ma = 0; ma <= j; ++ma) dur[k][c0 + ma] = dui[k][c0 + ma] = 0.0;
            for (int ma = 0; ma < j; ++ma) {
                const double ca = rootpq_[(j - ma) * P + (j - mb)];
                const double cb = rootpq_[(ma + 1) * P + (j - mb)];
                const double qr = Ur[p0 + ma], qi = Ui[p0 + ma];
                for (int k = 0; k < 3; ++k) {
                    const double pr = dur[k][p0 + ma], pi = dui[k][p0 + ma];
                    dur[k][c0 + ma] += ca * (dar[k] * qr + dai[k] * qi + ar * pr + ai * pi);
                    dui[k][c0 + ma] += ca * (dar[k] * qi - dai[k] * qr + ar * pi - ai * pr);
                    dur[k][c0 + ma + 1] -= cb * (dbr[k] * qr + dbi[k] * qi + br * pr + bi * pi);
                    dui[k][c0 + ma + 1] -= cb * (dbr[k] * qi - dbi[k] * qr + br * pi - bi * pr);
                }
            }
        }
        if (j < J2_)  // the next layer reads one column beyond this layer's half plane
            for (int k = 0; k < 3; ++k) fill_by_symmetry(j, dur[k] + cur, dui[k] + cur);
    }
    // d(fc w U)/dr_k = w (fc' u_k U + fc dU/dr_k), on the half planes (all that the contractions read)
    double fc, dfc;
    switching(p_.switchflag, r, p_.rmin0, rc, fc, dfc);
    const double s = fc * w.w[n], ds = dfc * w.w[n];
    for (int k = 0; k < 3; ++k) {
        const double su = ds * u[k];
        for (int j = 0; j <= J2_; ++j) {
            const int64_t u0 = ublock_[j], h = half_size(j);
            for (int64_t q = u0; q < u0 + h; ++q) {
                dur[k][q] = su * Ur[q] + s * dur[k][q];
                dui[k][q] = su * Ui[q] + s * dui[k][q];
            }
        }
    }
}

void BispectrumDescriptor::compute_deidrj(const Work& w, double dedr[3]) const {
    for (int k = 0; k < 3; ++k) {
        double s = 0.0;
        for (int j = 0; j <= J2_; ++j) {
            const int64_t u0 = ublock_[j];
            const int64_t y0 = w.du_elem * idxu_ + u0;
            s += half_dot(half_size(j), &halfw_[u0], &w.dulist_r[k * idxu_ + u0], &w.dulist_i[k * idxu_ + u0],
                          &w.ylist_r[y0], &w.ylist_i[y0]);
        }
        dedr[k] = s;
    }
}

void BispectrumDescriptor::add_forces(Work& w, double* forces, double* virial) const {
    const int64_t i = w.centre;
    for (int n = 0; n < static_cast<int>(w.atom.size()); ++n) {
        compute_duidrj(n, w);
        double g[3];
        compute_deidrj(w, g);
        const int64_t k = w.atom[n];
        for (int c = 0; c < 3; ++c) {
            forces[3 * k + c] -= g[c];
            forces[3 * i + c] += g[c];
        }
        add_pair_virial(virial, &w.rij[3 * n], g);
    }
}

void BispectrumDescriptor::dbidu_group(const Work& w, int e, const double* dur, const double* dui, double* dB,
                                       bool add) const {
    auto term = [&](int jj, int ez1, int ez2, int z) {
        const int64_t u0 = ublock_[jj], z0 = (ez1 * ne_ + ez2) * idxz_ + ztrip_[z].zoff;
        return half_dot(half_size(jj), &halfw_[u0], dur + u0, dui + u0, &w.zlist_r[z0], &w.zlist_i[z0]);
    };
    int64_t c = 0;
    for (int ea = 0; ea < ne_; ++ea)
        for (int eb = 0; eb < ne_; ++eb)
            for (int ec = 0; ec < ne_; ++ec)
                for (int64_t k = 0; k < nb_; ++k, ++c) {
                    const Triple& t = btrip_[k];
                    const BTriple& b = bz_[k];
                    double v = 0.0;
                    if (ec == e) v += term(t.j, ea, eb, b.z);
                    if (ea == e) v += (p_.bnormflag ? 1.0 : (t.j + 1.0) / (t.j1 + 1.0)) * term(t.j1, ec, eb, b.z1);
                    if (eb == e) v += (p_.bnormflag ? 1.0 : (t.j + 1.0) / (t.j2 + 1.0)) * term(t.j2, ec, ea, b.z2);
                    dB[c] = add ? dB[c] + v : v;
                }
}

void BispectrumDescriptor::compute_dbidu(const Work& w, const double* dur, const double* dui, double* dB) const {
    for (int e = 0; e < ne_; ++e) dbidu_group(w, e, dur + e * idxu_, dui + e * idxu_, dB, e > 0);
}

void BispectrumDescriptor::compute_dbidrk(Work& w, bool virial) const {
    const int nn = static_cast<int>(w.atom.size());
    // distinct neighbour atoms
    int32_t amax = 0;
    for (const int32_t k : w.atom) amax = std::max(amax, k);
    if (static_cast<int32_t>(w.slot.size()) <= amax) w.slot.resize(amax + 1, -1);
    w.katom.clear();
    for (const int32_t k : w.atom)
        if (w.slot[k] < 0) {
            w.slot[k] = static_cast<int32_t>(w.katom.size());
            w.katom.push_back(k);
        }
    const int64_t nk = static_cast<int64_t>(w.katom.size());
    const int64_t ncol = 3 * nk + (virial ? 6 : 0), nv = 2 * nhalf_ * ne_;
    // V: packed half planes [Re | Im] of d(fc w U)/dr summed per (atom, xyz), then the virial columns
    w.vmat.assign(nv * ncol, 0.0);
    for (int n = 0; n < nn; ++n) {
        compute_duidrj(n, w);
        const int64_t q = w.slot[w.atom[n]];
        const double* d = &w.rij[3 * n];
        const int64_t g0 = 2 * nhalf_ * w.elem[n];  // the block of the neighbour's group
        for (int x = 0; x < 3; ++x) {
            double* col = &w.vmat[(3 * q + x) * nv + g0];
            const double* dur = &w.dulist_r[x * idxu_];
            const double* dui = &w.dulist_i[x * idxu_];
            for (int j = 0; j <= J2_; ++j) {
                const int64_t h = half_size(j), u0 = ublock_[j], v0 = hoff_[j];
                for (int64_t t = 0; t < h; ++t) {
                    col[v0 + t] += dur[u0 + t];
                    col[nhalf_ + v0 + t] += dui[u0 + t];
                }
            }
        }
        if (virial)
            for (int v = 0; v < 6; ++v) {
                double* col = &w.vmat[(3 * nk + v) * nv + g0];
                const double c = d[kVoigt[v][0]];
                const double* dur = &w.dulist_r[kVoigt[v][1] * idxu_];
                const double* dui = &w.dulist_i[kVoigt[v][1] * idxu_];
                for (int j = 0; j <= J2_; ++j) {
                    const int64_t h = half_size(j), u0 = ublock_[j], v0 = hoff_[j];
                    for (int64_t t = 0; t < h; ++t) {
                        col[v0 + t] += c * dur[u0 + t];
                        col[nhalf_ + v0 + t] += c * dui[u0 + t];
                    }
                }
            }
    }
    for (const int32_t k : w.katom) w.slot[k] = -1;
    // G [ncoeff x nv]: row c holds the three-term formula of B_c as a linear form on packed dU (per group)
    w.gmat.assign(ncoeff_ * nv, 0.0);
    int64_t c = 0;
    for (int ea = 0; ea < ne_; ++ea)
        for (int eb = 0; eb < ne_; ++eb)
            for (int ec = 0; ec < ne_; ++ec)
                for (int64_t k = 0; k < nb_; ++k, ++c) {
                    const Triple& t = btrip_[k];
                    const BTriple& b = bz_[k];
                    auto put = [&](int e, int jj, int ez1, int ez2, const ZTriple& z, double fac) {
                        const int64_t h = half_size(jj), u0 = ublock_[jj], v0 = 2 * nhalf_ * e + hoff_[jj];
                        const int64_t z0 = (ez1 * ne_ + ez2) * idxz_ + z.zoff;
                        for (int64_t q = 0; q < h; ++q) {
                            const double hw = fac * halfw_[u0 + q];
                            w.gmat[(v0 + q) * ncoeff_ + c] += hw * w.zlist_r[z0 + q];
                            w.gmat[(nhalf_ + v0 + q) * ncoeff_ + c] += hw * w.zlist_i[z0 + q];
                        }
                    };
                    put(ec, t.j, ea, eb, ztrip_[b.z], 1.0);
                    put(ea, t.j1, ec, eb, ztrip_[b.z1], p_.bnormflag ? 1.0 : (t.j + 1.0) / (t.j1 + 1.0));
                    put(eb, t.j2, ec, ea, ztrip_[b.z2], p_.bnormflag ? 1.0 : (t.j + 1.0) / (t.j2 + 1.0));
                }
    using Mat = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic>>;
    const Mat G(w.gmat.data(), ncoeff_, nv), V(w.vmat.data(), nv, ncol);
    w.dbdr.resize(3 * nk * ncoeff_);
    Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic>>(w.dbdr.data(), ncoeff_, 3 * nk).noalias() =
        G * V.leftCols(3 * nk);
    if (virial) {
        w.dbvir.resize(6 * ncoeff_);
        Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic>>(w.dbvir.data(), ncoeff_, 6).noalias() =
            G * V.rightCols(6);
    }
}

void BispectrumDescriptor::compute_dbidrj(const Work& w, double* dB) const {
    for (int k = 0; k < 3; ++k)
        dbidu_group(w, w.du_elem, &w.dulist_r[k * idxu_], &w.dulist_i[k * idxu_], dB + k * ncoeff_, false);
}

// ------------------------------------------------------------------------------------------- kernels

void BispectrumDescriptor::forward(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1,
                                   double* G) const {
    Work& w = thread_work();
    for (int64_t i = a0; i < a1; ++i) {
        compute_ui(f, nl, i, false, w);
        compute_zi(w, false);
        compute_bi(w, G + ncoeff_ * i);
    }
}

void BispectrumDescriptor::jacobian(const FrameView& f, const NeighbourList& nl, int64_t i, double* G,
                                    double* J) const {
    Work& w = thread_work();
    compute_ui(f, nl, i, true, w);
    compute_zi(w, true);
    compute_bi(w, G);
    std::fill(J, J + (nl.end(i) - nl.begin(i)) * 3 * ncoeff_, 0.0);
    for (int n = 0; n < static_cast<int>(w.r.size()); ++n) {
        compute_duidrj(n, w);
        compute_dbidrj(w, J + (w.pair[n] - nl.begin(i)) * 3 * ncoeff_);
    }
}

void BispectrumDescriptor::jacobian_by_atom(const FrameView& f, const NeighbourList& nl, int64_t i, bool virial,
                                            double* G, AtomJacobian& out) const {
    Work& w = thread_work();
    compute_ui(f, nl, i, true, w);
    compute_zi(w, true);
    compute_bi(w, G);
    compute_dbidrk(w, virial);
    out.atoms.assign(w.katom.begin(), w.katom.end());
    out.J.assign(w.dbdr.begin(), w.dbdr.begin() + w.katom.size() * 3 * ncoeff_);
    if (virial) out.virial.assign(w.dbvir.begin(), w.dbvir.begin() + 6 * ncoeff_);
}

void BispectrumDescriptor::backward(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1,
                                    const double* dEdG, double* forces, double* virial) const {
    Work& w = thread_work();
    for (int64_t i = a0; i < a1; ++i) {
        const double* beta = dEdG + ncoeff_ * i;
        if (std::all_of(beta, beta + ncoeff_, [](double b) { return b == 0.0; })) continue;
        compute_ui(f, nl, i, true, w);
        compute_zi(w, true);
        compute_yi(beta, w);
        add_forces(w, forces, virial);
    }
}

void BispectrumDescriptor::tangent(const FrameView& f, const NeighbourList& nl, int64_t a0, int64_t a1,
                                   const double* v, double* dG) const {
    Work& w = thread_work();
    thread_local std::vector<double> tr, ti;
    tr.resize(ne_ * idxu_);
    ti.resize(ne_ * idxu_);
    for (int64_t i = a0; i < a1; ++i) {
        compute_ui(f, nl, i, true, w);
        compute_zi(w, true);
        std::fill(tr.begin(), tr.end(), 0.0);
        std::fill(ti.begin(), ti.end(), 0.0);
        const double* vi = v + 3 * i;
        for (int n = 0; n < static_cast<int>(w.atom.size()); ++n) {
            const double* vk = v + 3 * w.atom[n];
            const double dv[3] = {vk[0] - vi[0], vk[1] - vi[1], vk[2] - vi[2]};
            if (dv[0] == 0.0 && dv[1] == 0.0 && dv[2] == 0.0) continue;
            compute_duidrj(n, w);
            double* gr = tr.data() + w.elem[n] * idxu_;
            double* gi = ti.data() + w.elem[n] * idxu_;
            for (int k = 0; k < 3; ++k) {
                const double* dur = &w.dulist_r[k * idxu_];
                const double* dui = &w.dulist_i[k * idxu_];
                for (int j = 0; j <= J2_; ++j)
                    for (int64_t q = ublock_[j]; q < ublock_[j] + half_size(j); ++q) {
                        gr[q] += dv[k] * dur[q];
                        gi[q] += dv[k] * dui[q];
                    }
            }
        }
        compute_dbidu(w, tr.data(), ti.data(), dG + ncoeff_ * i);
    }
}

void BispectrumDescriptor::force_rows(const FrameBatch& b, double* rows, double* vir) const {
    check(b);
    const int64_t nc = ncoeff_;
    const int ns = species_.size();
    const int64_t per_atom = int64_t(ns) * 3 * nc, per_frame_vir = int64_t(ns) * 6 * nc;
    // rows R and virial V of centres [a0, a1) of one frame, accumulated
    auto centres = [&](const FrameView& fv, const NeighbourList& nl, int64_t a0, int64_t a1, Work& w, double* R,
                       double* V) {
        for (int64_t i = a0; i < a1; ++i) {
            compute_ui(fv, nl, i, true, w);
            compute_zi(w, true);
            compute_dbidrk(w, true);
            const int t = w.species;
            double* ri = R + i * per_atom + t * 3 * nc;
            for (size_t q = 0; q < w.katom.size(); ++q) {
                double* rk = R + int64_t(w.katom[q]) * per_atom + t * 3 * nc;
                const double* g = &w.dbdr[q * 3 * nc];
                for (int64_t e = 0; e < 3 * nc; ++e) {
                    rk[e] -= g[e];
                    ri[e] += g[e];
                }
            }
            double* vt = V + t * 6 * nc;
            for (int64_t e = 0; e < 6 * nc; ++e) vt[e] -= w.dbvir[e];
        }
    };
    std::vector<std::vector<double>> tr, tv;  // thread sums when the atoms of a frame are split
    for_each_atom_block(
        b, cutoff(),
        [&](int64_t f, const FrameView& fv, const NeighbourList& nl, int64_t a0, int64_t a1, int slot) {
            Work& w = thread_work();
            if (slot >= 0) return centres(fv, nl, a0, a1, w, tr[slot].data(), tv[slot].data());
            double* R = rows + b.first_atom(f) * per_atom;
            double* V = vir + f * per_frame_vir;
            std::fill(R, R + fv.n_atoms * per_atom, 0.0);
            std::fill(V, V + per_frame_vir, 0.0);
            centres(fv, nl, a0, a1, w, R, V);
        },
        [&](int64_t f, int nt) {
            tr.assign(nt, std::vector<double>(b.frame_size(f) * per_atom, 0.0));
            tv.assign(nt, std::vector<double>(per_frame_vir, 0.0));
        },
        [&](int64_t f, int nt) {
            double* R = rows + b.first_atom(f) * per_atom;
            double* V = vir + f * per_frame_vir;
            std::fill(R, R + b.frame_size(f) * per_atom, 0.0);
            std::fill(V, V + per_frame_vir, 0.0);
            for (int t = 0; t < nt; ++t) {
                for (int64_t e = 0; e < b.frame_size(f) * per_atom; ++e) R[e] += tr[t][e];
                for (int64_t e = 0; e < per_frame_vir; ++e) V[e] += tv[t][e];
            }
        });
}

}  // namespace ldrx
