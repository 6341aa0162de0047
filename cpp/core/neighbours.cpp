#include "core/neighbours.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ldrx {
namespace {

using Vec3 = std::array<double, 3>;

Vec3 cross(const Vec3& a, const Vec3& b) {
    return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
double dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
double norm(const Vec3& a) { return std::sqrt(dot(a, a)); }

// Geometry of the binning: an "effective" cell whose periodic rows are the frame's lattice vectors
// and whose non-periodic rows are replaced by an orthonormal completion (their length and direction
// do not matter, only that the three rows span space).
struct Binning {
    Vec3 rows[3];        // effective cell
    Vec3 inv_cols[3];    // columns of the inverse: frac_k = dot(r, inv_cols[k])
    double width[3];     // distance between lattice planes per unit fractional coordinate
    bool periodic[3];
    double lo[3], bin_frac[3];  // bins start at lo and are bin_frac wide (fractional units)
    int nbins[3];
    int reach[3];        // bins to scan on each side
};

void make_effective_cell(const FrameView& f, Binning& b) {
    Vec3 given[3];
    std::vector<int> per, nonper;
    for (int k = 0; k < 3; ++k) {
        given[k] = {f.cell[3 * k], f.cell[3 * k + 1], f.cell[3 * k + 2]};
        b.periodic[k] = f.pbc[k] != 0;
        (b.periodic[k] ? per : nonper).push_back(k);
    }
    for (int k : per) {
        if (!(norm(given[k]) > 1e-10) || !std::isfinite(norm(given[k])))
            throw std::invalid_argument("periodic lattice vector " + std::to_string(k) +
                                        " has zero length or is not finite");
        b.rows[k] = given[k];
    }
    if (per.size() == 2) {
        Vec3 c = cross(given[per[0]], given[per[1]]);
        const double n = norm(c);
        if (!(n > 1e-10 * norm(given[per[0]]) * norm(given[per[1]])))
            throw std::invalid_argument("periodic lattice vectors are parallel");
        b.rows[nonper[0]] = {c[0] / n, c[1] / n, c[2] / n};
    } else if (per.size() == 1) {
        const Vec3& a = given[per[0]];
        const double na = norm(a);
        Vec3 u = {a[0] / na, a[1] / na, a[2] / na};
        // any vector not parallel to u
        Vec3 t = std::fabs(u[0]) < 0.9 ? Vec3{1, 0, 0} : Vec3{0, 1, 0};
        Vec3 v = cross(u, t);
        const double nv = norm(v);
        v = {v[0] / nv, v[1] / nv, v[2] / nv};
        Vec3 w = cross(u, v);
        b.rows[nonper[0]] = v;
        b.rows[nonper[1]] = w;
    } else if (per.empty()) {
        b.rows[0] = {1, 0, 0};
        b.rows[1] = {0, 1, 0};
        b.rows[2] = {0, 0, 1};
    }
    // inverse of the row matrix: columns are cross products / volume
    const Vec3 c0 = cross(b.rows[1], b.rows[2]);
    const Vec3 c1 = cross(b.rows[2], b.rows[0]);
    const Vec3 c2 = cross(b.rows[0], b.rows[1]);
    const double vol = dot(b.rows[0], c0);
    if (!(std::fabs(vol) > 1e-12 * norm(b.rows[0]) * norm(b.rows[1]) * norm(b.rows[2])))
        throw std::invalid_argument("lattice vectors are linearly dependent (zero cell volume)");
    b.inv_cols[0] = {c0[0] / vol, c0[1] / vol, c0[2] / vol};
    b.inv_cols[1] = {c1[0] / vol, c1[1] / vol, c1[2] / vol};
    b.inv_cols[2] = {c2[0] / vol, c2[1] / vol, c2[2] / vol};
    for (int k = 0; k < 3; ++k) b.width[k] = 1.0 / norm(b.inv_cols[k]);
}

}  // namespace

void build_neighbour_list(const FrameView& f, double cutoff, NeighbourList& out, int threads, bool with_shifts) {
    if (!(cutoff > 0.0) || !std::isfinite(cutoff))
        throw std::invalid_argument("neighbour-list cut-off must be positive and finite");
    const int64_t n = f.n_atoms;
    out.cutoff = cutoff;
    out.start.assign(n + 1, 0);
    out.index.clear();
    out.vec.clear();
    out.dist.clear();
    out.shift.clear();
    if (n == 0) return;

    Binning b;
    make_effective_cell(f, b);

    // fractional coordinates, wrapped into [0, 1) along periodic directions
    std::vector<double> frac(3 * n);
    std::vector<int32_t> wrap(3 * n, 0);
    for (int64_t i = 0; i < n; ++i) {
        const Vec3 r = {f.positions[3 * i], f.positions[3 * i + 1], f.positions[3 * i + 2]};
        if (!std::isfinite(r[0]) || !std::isfinite(r[1]) || !std::isfinite(r[2]))
            throw std::invalid_argument("atom " + std::to_string(i) + " has a non-finite position");
        for (int k = 0; k < 3; ++k) {
            double s = dot(r, b.inv_cols[k]);
            if (b.periodic[k]) {
                const double m = std::floor(s);
                s -= m;
                if (s >= 1.0) s = 0.0;  // rounding
                if (std::fabs(m) > 1e9) throw std::invalid_argument("atom far outside the cell");
                wrap[3 * i + k] = static_cast<int32_t>(m);
            }
            frac[3 * i + k] = s;
        }
    }
    // bins
    int64_t total_bins = 1;
    double span[3];
    for (int k = 0; k < 3; ++k) {
        double lo = 0.0;
        span[k] = 1.0;
        if (!b.periodic[k]) {
            lo = std::numeric_limits<double>::max();
            double hi = -lo;
            for (int64_t i = 0; i < n; ++i) {
                lo = std::min(lo, frac[3 * i + k]);
                hi = std::max(hi, frac[3 * i + k]);
            }
            span[k] = std::max(hi - lo, 1e-12);
        }
        // bins of about half the cut-off: with the per-atom pruning below, the scanned volume is close
        // to the cut-off cube instead of 27 bins of the cut-off's size
        const double extent = span[k] * b.width[k];
        int nb = static_cast<int>(std::min(std::floor(2.0 * extent / cutoff), 1e6));
        nb = std::max(nb, 1);
        b.lo[k] = lo;
        b.nbins[k] = nb;
        total_bins *= nb;
    }
    // keep the number of bins proportional to the number of atoms (sparse systems)
    while (total_bins > 8 * n + 64) {
        int k = 0;
        for (int m = 1; m < 3; ++m)
            if (b.nbins[m] > b.nbins[k]) k = m;
        total_bins /= b.nbins[k];
        b.nbins[k] = std::max(1, b.nbins[k] / 2);
        total_bins *= b.nbins[k];
    }
    for (int k = 0; k < 3; ++k) {
        b.bin_frac[k] = span[k] / b.nbins[k];
        const double bin_len = b.bin_frac[k] * b.width[k];
        double reach = std::ceil(cutoff / bin_len);
        if (!b.periodic[k]) reach = std::min(reach, static_cast<double>(b.nbins[k] - 1));
        if (reach > 1e5) throw std::invalid_argument("cell too thin for the cut-off (more than 1e5 periodic images)");
        b.reach[k] = static_cast<int>(reach);
    }
    auto bin_of = [&](int64_t i, int k) {
        int c = static_cast<int>(std::floor((frac[3 * i + k] - b.lo[k]) / b.bin_frac[k]));
        return std::min(std::max(c, 0), b.nbins[k] - 1);
    };
    // counting sort of atoms into bins
    const int64_t nbin = static_cast<int64_t>(b.nbins[0]) * b.nbins[1] * b.nbins[2];
    std::vector<int64_t> bin_start(nbin + 1, 0), atom_bin(n);
    std::vector<int32_t> bin_atoms(n);
    for (int64_t i = 0; i < n; ++i) {
        const int64_t c = (static_cast<int64_t>(bin_of(i, 0)) * b.nbins[1] + bin_of(i, 1)) * b.nbins[2] +
                          bin_of(i, 2);
        atom_bin[i] = c;
        ++bin_start[c + 1];
    }
    for (int64_t c = 0; c < nbin; ++c) bin_start[c + 1] += bin_start[c];
    {
        std::vector<int64_t> fill(bin_start.begin(), bin_start.end() - 1);
        for (int64_t i = 0; i < n; ++i) bin_atoms[fill[atom_bin[i]]++] = static_cast<int32_t>(i);
    }
    const Vec3* L = reinterpret_cast<const Vec3*>(f.cell);  // the frame's own lattice rows
    // wrapped Cartesian positions w = r - wrap . L, stored in bin order for the candidate scan
    std::vector<double> wpos(3 * n);
    for (int64_t p = 0; p < n; ++p) {
        const int64_t j = bin_atoms[p];
        for (int k = 0; k < 3; ++k)
            wpos[3 * p + k] = f.positions[3 * j + k] - (wrap[3 * j] * L[0][k] + wrap[3 * j + 1] * L[1][k] +
                                                       wrap[3 * j + 2] * L[2][k]);
    }
    std::vector<double> wself(3 * n);
    for (int64_t p = 0; p < n; ++p)
        for (int k = 0; k < 3; ++k) wself[3 * bin_atoms[p] + k] = wpos[3 * p + k];

    const double rc2 = cutoff * cutoff;
    auto scan_atom = [&](int64_t i, std::vector<int32_t>& idx, std::vector<double>& vec,
                         std::vector<double>& dist, std::vector<int32_t>& sh) {
        const int64_t c = atom_bin[i];
        const int ci[3] = {static_cast<int>(c / (static_cast<int64_t>(b.nbins[1]) * b.nbins[2])),
                           static_cast<int>((c / b.nbins[2]) % b.nbins[1]),
                           static_cast<int>(c % b.nbins[2])};
        const double* ri = f.positions + 3 * i;
        for (int d0 = -b.reach[0]; d0 <= b.reach[0]; ++d0) {
            int t[3], img[3];
            // bin x (unwrapped index, images included) along k, or false if out of range or if its slab
            // is further than the cut-off from atom i (a lower bound on the distance in any cell)
            auto resolve = [&](int k, int d) {
                int x = ci[k] + d;
                const double fi = frac[3 * i + k];
                const double x0 = b.lo[k] + x * b.bin_frac[k], x1 = x0 + b.bin_frac[k];
                const double gap = (fi < x0 ? x0 - fi : (fi > x1 ? fi - x1 : 0.0)) * b.width[k];
                if (gap >= cutoff) return false;
                if (b.periodic[k]) {
                    const int q = (x >= 0) ? x / b.nbins[k] : -((-x + b.nbins[k] - 1) / b.nbins[k]);
                    t[k] = x - q * b.nbins[k];
                    img[k] = q;
                    return true;
                }
                if (x < 0 || x >= b.nbins[k]) return false;
                t[k] = x;
                img[k] = 0;
                return true;
            };
            if (!resolve(0, d0)) continue;
            for (int d1 = -b.reach[1]; d1 <= b.reach[1]; ++d1) {
                if (!resolve(1, d1)) continue;
                for (int d2 = -b.reach[2]; d2 <= b.reach[2]; ++d2) {
                    if (!resolve(2, d2)) continue;
                    const int64_t tb = (static_cast<int64_t>(t[0]) * b.nbins[1] + t[1]) * b.nbins[2] + t[2];
                    // image shift of the bin, relative to atom i's wrapped position
                    double o[3];
                    for (int k = 0; k < 3; ++k)
                        o[k] = img[0] * L[0][k] + img[1] * L[1][k] + img[2] * L[2][k] - wself[3 * i + k];
                    const bool self_image = img[0] == 0 && img[1] == 0 && img[2] == 0;
                    for (int64_t p = bin_start[tb]; p < bin_start[tb + 1]; ++p) {
                        double d[3] = {wpos[3 * p] + o[0], wpos[3 * p + 1] + o[1], wpos[3 * p + 2] + o[2]};
                        const double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
                        if (r2 >= rc2) continue;
                        const int64_t j = bin_atoms[p];
                        if (j == i && self_image) continue;
                        int m[3];
                        for (int k = 0; k < 3; ++k) m[k] = img[k] + wrap[3 * i + k] - wrap[3 * j + k];
                        // the vector in the caller's coordinates, r_j - r_i + m . L (same image)
                        const double* rj = f.positions + 3 * j;
                        for (int k = 0; k < 3; ++k)
                            d[k] = rj[k] - ri[k] + m[0] * L[0][k] + m[1] * L[1][k] + m[2] * L[2][k];
                        const double r2x = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
                        idx.push_back(static_cast<int32_t>(j));
                        vec.insert(vec.end(), d, d + 3);
                        dist.push_back(std::sqrt(r2x));
                        if (with_shifts) sh.insert(sh.end(), m, m + 3);
                    }
                }
            }
        }
    };

#ifdef _OPENMP
    const int nt = std::max(1, std::min<int>(threads, static_cast<int>(n / 64) + 1));
#else
    const int nt = 1;
#endif
    if (nt <= 1) {
        for (int64_t i = 0; i < n; ++i) {
            scan_atom(i, out.index, out.vec, out.dist, out.shift);
            out.start[i + 1] = static_cast<int64_t>(out.index.size());
        }
        return;
    }
#ifdef _OPENMP
    // Each thread scans a contiguous block of atoms into its own buffers; blocks are concatenated
    // in order, so the list is identical to the serial one.
    std::vector<std::vector<int32_t>> tidx(nt), tsh(nt);
    std::vector<std::vector<double>> tvec(nt), tdist(nt);
    std::vector<int64_t> counts(n, 0);
#pragma omp parallel num_threads(nt)
    {
        const int t = omp_get_thread_num();
        const int64_t a0 = n * t / nt, a1 = n * (t + 1) / nt;
        for (int64_t i = a0; i < a1; ++i) {
            const size_t before = tidx[t].size();
            scan_atom(i, tidx[t], tvec[t], tdist[t], tsh[t]);
            counts[i] = static_cast<int64_t>(tidx[t].size() - before);
        }
    }
    for (int64_t i = 0; i < n; ++i) out.start[i + 1] = out.start[i] + counts[i];
    const int64_t np = out.start[n];
    out.index.reserve(np);
    out.vec.reserve(3 * np);
    out.dist.reserve(np);
    out.shift.reserve(3 * np);
    for (int t = 0; t < nt; ++t) {
        out.index.insert(out.index.end(), tidx[t].begin(), tidx[t].end());
        out.vec.insert(out.vec.end(), tvec[t].begin(), tvec[t].end());
        out.dist.insert(out.dist.end(), tdist[t].begin(), tdist[t].end());
        out.shift.insert(out.shift.end(), tsh[t].begin(), tsh[t].end());
    }
#endif
}

bool closest_pair(const FrameView& frame, double cutoff, double& distance, int64_t& i, int64_t& j) {
    NeighbourList nl;
    build_neighbour_list(frame, cutoff, nl, 1);
    bool found = false;
    distance = std::numeric_limits<double>::infinity();
    for (int64_t a = 0; a < nl.n_atoms(); ++a)
        for (int64_t p = nl.begin(a); p < nl.end(a); ++p)
            if (nl.dist[p] < distance) {
                distance = nl.dist[p];
                i = a;
                j = nl.index[p];
                found = true;
            }
    return found;
}

}  // namespace ldrx
