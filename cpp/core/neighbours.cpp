#include "core/neighbours.hpp"

#include "core/parallel.hpp"

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

// An "effective" cell whose periodic rows are the frame's lattice vectors and whose non-periodic rows
// are replaced by an orthonormal completion (their length and direction do not matter, only that the
// three rows span space), with its inverse and plane spacings.
struct CellGeometry {
    Vec3 rows[3];        // effective cell
    Vec3 inv_cols[3];    // columns of the inverse: frac_k = dot(r, inv_cols[k])
    double width[3];     // distance between lattice planes per unit fractional coordinate
    bool periodic[3];
};

void make_effective_cell(const FrameView& f, CellGeometry& b) {
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

// Coordinates beyond this are refused: the cell list's bounding box must stay finite.
constexpr double kMaxCoordinate = 1e9;

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

    CellGeometry b;
    make_effective_cell(f, b);

    // fractional coordinates, wrapped into [0, 1) along periodic directions
    std::vector<double> frac(3 * n);
    std::vector<int32_t> wrap(3 * n, 0);
    for (int64_t i = 0; i < n; ++i) {
        const Vec3 r = {f.positions[3 * i], f.positions[3 * i + 1], f.positions[3 * i + 2]};
        if (!std::isfinite(r[0]) || !std::isfinite(r[1]) || !std::isfinite(r[2]))
            throw std::invalid_argument("atom " + std::to_string(i) + " has a non-finite position");
        if (std::fabs(r[0]) > kMaxCoordinate || std::fabs(r[1]) > kMaxCoordinate || std::fabs(r[2]) > kMaxCoordinate)
            throw std::invalid_argument("atom " + std::to_string(i) + " has a coordinate beyond 1e9 Å");
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
    // Periodic images ("ghosts") of every atom that can lie within the cut-off of some atom of the
    // frame: image shifts per periodic direction reach cutoff / (plane spacing) cells beyond the
    // wrapped cell, and images outside the atoms' bounding box grown by the cut-off are dropped.
    const Vec3* L = reinterpret_cast<const Vec3*>(f.cell);  // the frame's own lattice rows
    std::vector<double> w(3 * n);                           // wrapped Cartesian positions r - wrap . L
    for (int64_t i = 0; i < n; ++i)
        for (int k = 0; k < 3; ++k)
            w[3 * i + k] = f.positions[3 * i + k] -
                           (wrap[3 * i] * L[0][k] + wrap[3 * i + 1] * L[1][k] + wrap[3 * i + 2] * L[2][k]);
    double lo[3], hi[3];
    for (int k = 0; k < 3; ++k) {
        lo[k] = std::numeric_limits<double>::max();
        hi[k] = -lo[k];
        for (int64_t i = 0; i < n; ++i) {
            lo[k] = std::min(lo[k], w[3 * i + k]);
            hi[k] = std::max(hi[k], w[3 * i + k]);
        }
        lo[k] -= cutoff;
        hi[k] += cutoff;
    }
    int reach[3];
    double ext[3];  // cut-off in fractional units
    for (int k = 0; k < 3; ++k) {
        ext[k] = cutoff / b.width[k];
        if (!b.periodic[k]) {
            reach[k] = 0;
            continue;
        }
        if (ext[k] > 1e5) throw std::invalid_argument("cell too thin for the cut-off (more than 1e5 periodic images)");
        reach[k] = static_cast<int>(std::ceil(ext[k]));
    }
    {
        double images = 1.0;
        for (int k = 0; k < 3; ++k) images *= 2.0 * reach[k] + 1.0;
        if (images * static_cast<double>(n) > 2e8)
            throw std::invalid_argument("cell too small for the cut-off: " + std::to_string(static_cast<int64_t>(images)) +
                                        " periodic images of " + std::to_string(n) + " atoms to scan");
    }
    std::vector<double> gpos;    // ghost positions
    std::vector<int32_t> gsrc;   // atom each ghost is an image of
    std::vector<int32_t> gimg;   // its image shift (3 ints)
    for (int s0 = -reach[0]; s0 <= reach[0]; ++s0)
        for (int s1 = -reach[1]; s1 <= reach[1]; ++s1)
            for (int s2 = -reach[2]; s2 <= reach[2]; ++s2) {
                const int sh[3] = {s0, s1, s2};
                double S[3];
                for (int k = 0; k < 3; ++k) S[k] = s0 * L[0][k] + s1 * L[1][k] + s2 * L[2][k];
                for (int64_t j = 0; j < n; ++j) {
                    bool keep = true;
                    for (int k = 0; k < 3 && keep; ++k) {
                        const double fk = frac[3 * j + k] + sh[k];
                        if (b.periodic[k] && (fk <= -ext[k] || fk >= 1.0 + ext[k])) keep = false;
                        const double x = w[3 * j + k] + S[k];
                        if (x < lo[k] || x > hi[k]) keep = false;
                    }
                    if (!keep) continue;
                    for (int k = 0; k < 3; ++k) gpos.push_back(w[3 * j + k] + S[k]);
                    gsrc.push_back(static_cast<int32_t>(j));
                    gimg.insert(gimg.end(), sh, sh + 3);
                }
            }
    const int64_t ng = static_cast<int64_t>(gsrc.size());

    // Cartesian bins of about half the cut-off over the grown bounding box (fewer if that would make
    // many more bins than ghosts), and the stencil of bin offsets that can hold a point within the
    // cut-off of a point of the centre bin.
    double bin = 0.5 * cutoff;
    int nb[3];
    for (;;) {
        int64_t total = 1;
        for (int k = 0; k < 3; ++k) {
            nb[k] = std::max(1, static_cast<int>(std::min(std::ceil((hi[k] - lo[k]) / bin), 1e6)));
            total *= nb[k];
        }
        if (total <= 8 * ng + 64) break;
        bin *= 1.5;
    }
    const int64_t nbin = static_cast<int64_t>(nb[0]) * nb[1] * nb[2];
    auto bin_index = [&](const double* x, int* c) {
        for (int k = 0; k < 3; ++k)
            c[k] = std::min(nb[k] - 1, std::max(0, static_cast<int>((x[k] - lo[k]) / bin)));
        return (static_cast<int64_t>(c[0]) * nb[1] + c[1]) * nb[2] + c[2];
    };
    std::vector<int64_t> bin_start(nbin + 1, 0), gbin(ng);
    for (int64_t g = 0; g < ng; ++g) {
        int c[3];
        gbin[g] = bin_index(&gpos[3 * g], c);
        ++bin_start[gbin[g] + 1];
    }
    for (int64_t c = 0; c < nbin; ++c) bin_start[c + 1] += bin_start[c];
    std::vector<int64_t> order(ng);
    {
        std::vector<int64_t> fill(bin_start.begin(), bin_start.end() - 1);
        for (int64_t g = 0; g < ng; ++g) order[fill[gbin[g]]++] = g;
    }
    std::vector<double> sx(ng), sy(ng), sz(ng);  // ghost positions in bin order
    for (int64_t q = 0; q < ng; ++q) {
        sx[q] = gpos[3 * order[q]];
        sy[q] = gpos[3 * order[q] + 1];
        sz[q] = gpos[3 * order[q] + 2];
    }
    const int D = static_cast<int>(std::ceil(cutoff / bin));
    std::vector<std::array<int, 3>> stencil;
    for (int d0 = -D; d0 <= D; ++d0)
        for (int d1 = -D; d1 <= D; ++d1)
            for (int d2 = -D; d2 <= D; ++d2) {
                double m2 = 0.0;
                for (int d : {d0, d1, d2}) {
                    const double g = std::max(std::abs(d) - 1, 0) * bin;
                    m2 += g * g;
                }
                if (m2 < cutoff * cutoff) stencil.push_back({d0, d1, d2});
            }

    const double rc2 = cutoff * cutoff;
    auto scan_atom = [&](int64_t i, std::vector<int32_t>& idx, std::vector<double>& vec,
                         std::vector<double>& dist, std::vector<int32_t>& sh) {
        int c[3];
        bin_index(&w[3 * i], c);
        const double xi = w[3 * i], yi = w[3 * i + 1], zi = w[3 * i + 2];
        const double* ri = f.positions + 3 * i;
        for (const auto& st : stencil) {
            const int t0 = c[0] + st[0], t1 = c[1] + st[1], t2 = c[2] + st[2];
            if (t0 < 0 || t0 >= nb[0] || t1 < 0 || t1 >= nb[1] || t2 < 0 || t2 >= nb[2]) continue;
            const int64_t tb = (static_cast<int64_t>(t0) * nb[1] + t1) * nb[2] + t2;
            for (int64_t q = bin_start[tb]; q < bin_start[tb + 1]; ++q) {
                const double dx = sx[q] - xi, dy = sy[q] - yi, dz = sz[q] - zi;
                if (dx * dx + dy * dy + dz * dz >= rc2) continue;
                const int64_t g = order[q];
                const int32_t j = gsrc[g];
                const int32_t* img = &gimg[3 * g];
                if (j == i && img[0] == 0 && img[1] == 0 && img[2] == 0) continue;
                int m[3];
                for (int k = 0; k < 3; ++k) m[k] = img[k] + wrap[3 * i + k] - wrap[3 * j + k];
                // the vector in the caller's coordinates, r_j - r_i + m . L (same image)
                const double* rj = f.positions + 3 * j;
                double d[3];
                for (int k = 0; k < 3; ++k) d[k] = rj[k] - ri[k] + m[0] * L[0][k] + m[1] * L[1][k] + m[2] * L[2][k];
                idx.push_back(j);
                vec.insert(vec.end(), d, d + 3);
                dist.push_back(std::sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]));
                if (with_shifts) sh.insert(sh.end(), m, m + 3);
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
    // in order, so the list is identical to the serial one. The blocks follow the team OpenMP actually
    // grants (it may be smaller than nt: nested regions, OMP_THREAD_LIMIT, OMP_DYNAMIC).
    std::vector<std::vector<int32_t>> tidx(nt), tsh(nt);
    std::vector<std::vector<double>> tvec(nt), tdist(nt);
    std::vector<int64_t> counts(n, 0);
    int team = 1;
    ExceptionSlot err;
#pragma omp parallel num_threads(nt)
    {
        const int T = omp_get_num_threads(), t = omp_get_thread_num();
        if (t == 0) team = T;
        err.run([&] {
            const int64_t a0 = n * t / T, a1 = n * (t + 1) / T;
            for (int64_t i = a0; i < a1; ++i) {
                const size_t before = tidx[t].size();
                scan_atom(i, tidx[t], tvec[t], tdist[t], tsh[t]);
                counts[i] = static_cast<int64_t>(tidx[t].size() - before);
            }
        });
    }
    err.rethrow();
    for (int64_t i = 0; i < n; ++i) out.start[i + 1] = out.start[i] + counts[i];
    const int64_t np = out.start[n];
    out.index.reserve(np);
    out.vec.reserve(3 * np);
    out.dist.reserve(np);
    out.shift.reserve(3 * np);
    for (int t = 0; t < team; ++t) {
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

void NeighbourListCache::bind(const FrameBatch& b, double r_cut) {
    if (b.n_frames == n_frames && b.n_atoms() == n_atoms && b.positions == positions && r_cut == cutoff) return;
    lists.assign(b.n_frames, NeighbourList());
    ready.assign(b.n_frames, 0);
    n_frames = b.n_frames;
    n_atoms = b.n_atoms();
    positions = b.positions;
    cutoff = r_cut;
}

const NeighbourList& NeighbourListCache::get(const FrameView& fv, int64_t f) {
    if (!ready[f]) {
        build_neighbour_list(fv, cutoff, lists[f], 1);
        ready[f] = 1;
    }
    return lists[f];
}

int64_t NeighbourListCache::bytes() const {
    int64_t n = 0;
    for (const NeighbourList& l : lists)
        n += static_cast<int64_t>(l.start.capacity() * sizeof(int64_t) + l.index.capacity() * sizeof(int32_t) +
                                  (l.vec.capacity() + l.dist.capacity()) * sizeof(double));
    return n;
}

}  // namespace ldrx
