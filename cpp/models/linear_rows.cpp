#include "models/linear_rows.hpp"

// vendored Eigen: keep its own warnings out of the build log
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-variable"
#include <Eigen/Core>
#pragma GCC diagnostic pop
#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "core/neighbours.hpp"
#include "core/parallel.hpp"

namespace ldrx {

namespace {

using RowMat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMajorMap = Eigen::Map<RowMat>;

// chunks of the ordered sum: one per about this many atoms, cut at equal estimated cost (a fixed cut of the
// data: the sums do not depend on the thread count)
constexpr int64_t kAtomsPerChunk = 2048;

inline bool usable(double target, double weight) {
    return std::isfinite(target) && weight > 0.0 && std::isfinite(weight);
}

// Rows that frame f gives: energy, forces, virial.
struct RowCount {
    bool energy = false;
    int64_t forces = 0, virial = 0;
    int64_t total() const { return (energy ? 1 : 0) + forces + virial; }
};

RowCount count_rows(const FrameBatch& b, const LinearTargets& t, int64_t f) {
    RowCount c;
    c.energy = usable(t.energy[f], t.w_energy[f]);
    for (int64_t q = 3 * b.offsets[f]; q < 3 * b.offsets[f + 1]; ++q) c.forces += usable(t.forces[q], t.w_force[f]);
    if (t.virial)
        for (int v = 0; v < 6; ++v) c.virial += usable(t.virial[6 * f + v], t.w_virial[f]);
    return c;
}

// The model's columns as groups: per species, group s = [s P, (s + 1) P) with P = 1 + q; shared, group s < S
// is the constant column s and group S the q feature columns. Only the groups of the species a frame holds
// (and the shared features) are non-zero in its rows.
struct Groups {
    int64_t S = 0, Q = 0, n = 0;
    bool shared = false;
    std::vector<int64_t> off, len;
    Groups(const LinearBasis& basis, int64_t n_species, int64_t d)
        : S(n_species), Q(basis.features(d)), n(basis.columns(n_species, d)), shared(basis.shared) {
        for (int64_t s = 0; s < S; ++s) {
            off.push_back(shared ? s : s * (1 + Q));
            len.push_back(shared ? 1 : 1 + Q);
        }
        if (shared) {
            off.push_back(S);
            len.push_back(Q);
        }
    }
    int64_t size() const { return static_cast<int64_t>(off.size()); }
    // the groups of a frame whose species set is `mask`, in column order
    std::vector<int> present(uint64_t mask) const {
        std::vector<int> out;
        for (int s = 0; s < S; ++s)
            if (mask >> s & 1) out.push_back(s);
        if (shared) out.push_back(static_cast<int>(S));
        return out;
    }
    int64_t width(const std::vector<int>& g) const {
        int64_t w = 0;
        for (const int q : g) w += len[q];
        return w;
    }
};

uint64_t species_mask(const SpeciesMap& sp, const FrameBatch& b, int64_t f) {
    uint64_t m = 0;
    for (int64_t a = b.offsets[f]; a < b.offsets[f + 1]; ++a) m |= uint64_t(1) << sp(b.numbers[a]);
    return m;
}

// Builds the weighted rows of one frame on the compacted columns of its groups.
class FrameRows {
public:
    FrameRows(const Descriptor& d, const SpeciesMap& sp, const Groups& groups, const LinearBasis& basis,
              const LinearTargets& t)
        : d_(d), sp_(sp), groups_(groups), basis_(basis), t_(t), D_(d.size()) {
        G_.resize(D_);
        Gt_.resize(D_);
        X_.resize(3 * D_);
        Xsum_.resize(3 * D_);
        coff_.assign(groups.size(), -1);
    }

    // Writes the rows of frame f into out (one row of A per column of length >= the compacted width,
    // leading dimension ld) and their targets into rhs; returns how many rows were kept. `present` must
    // list the frame's groups in column order.
    int64_t build(const FrameBatch& b, int64_t f, const std::vector<int>& present, double* out, int64_t ld,
                  double* rhs) {
        const FrameView fv = b.frame(f);
        const int64_t N = fv.n_atoms, a0 = b.offsets[f];
        std::fill(coff_.begin(), coff_.end(), -1);
        int64_t width = 0;
        for (const int g : present) {
            coff_[g] = width;
            width += groups_.len[g];
        }
        const RowCount rc = count_rows(b, t_, f);
        const bool forces = rc.forces > 0, virial = rc.virial > 0;
        const int64_t n_all = 1 + 3 * N + (virial ? 6 : 0);
        for (int64_t r = 0; r < n_all; ++r) std::fill(out + r * ld, out + r * ld + width, 0.0);
        out_ = out;
        ld_ = ld;
        build_neighbour_list(fv, d_.cutoff(), nl_, 1);
        const double u = basis_.per_atom ? 1.0 / N : 1.0;
        if (!forces && !virial) {
            Gframe_.resize(N * D_);
            d_.forward(fv, nl_, 0, N, Gframe_.data());
        }
        for (int64_t i = 0; i < N; ++i) {
            const int s = sp_(fv.numbers[i]);
            if (forces || virial)
                d_.jacobian_by_atom(fv, nl_, i, virial, G_.data(), jac_);
            else
                std::copy(&Gframe_[i * D_], &Gframe_[(i + 1) * D_], G_.begin());
            sc_ = basis_.scale ? basis_.scale + s * D_ : nullptr;
            const double* sh = basis_.shift ? basis_.shift + s * D_ : nullptr;
            for (int64_t k = 0; k < D_; ++k) Gt_[k] = (sc_ ? sc_[k] : 1.0) * (G_[k] - (sh ? sh[k] : 0.0));
            // energy row: the centre's constant and features
            cf_ = groups_.shared ? coff_[groups_.S] : coff_[s] + 1;
            out[coff_[s]] += u;
            double* e = out + cf_;
            for (int64_t k = 0; k < D_; ++k) e[k] += u * Gt_[k];
            if (basis_.quadratic) {
                double* q = e + D_;
                for (int64_t k = 0; k < D_; ++k) {
                    *q++ += u * 0.5 * Gt_[k] * Gt_[k];
                    for (int64_t l = k + 1; l < D_; ++l) *q++ += u * Gt_[k] * Gt_[l];
                }
            }
            if (!forces && !virial) continue;
            if (forces) {
                std::fill(Xsum_.begin(), Xsum_.end(), 0.0);
                for (size_t q = 0; q < jac_.atoms.size(); ++q) {
                    const int64_t k = jac_.atoms[q];
                    for (int x = 0; x < 3; ++x) {
                        const double* g = &jac_.J[(q * 3 + x) * D_];
                        double* X = &X_[x * D_];
                        for (int64_t c = 0; c < D_; ++c) {
                            X[c] = sc_ ? sc_[c] * g[c] : g[c];
                            Xsum_[x * D_ + c] += X[c];
                        }
                        add(1 + 3 * k + x, X, -1.0);  // F_k = -dE_i/d vec
                    }
                }
                for (int x = 0; x < 3; ++x) add(1 + 3 * i + x, &Xsum_[x * D_], 1.0);  // F_i = +dE_i/d vec
            }
            if (virial)
                for (int v = 0; v < 6; ++v) {
                    const double* g = &jac_.virial[v * D_];
                    for (int64_t c = 0; c < D_; ++c) X_[c] = sc_ ? sc_[c] * g[c] : g[c];
                    add(1 + 3 * N + v, X_.data(), -u);  // W = -sum vec (x) dE/d vec
                }
        }
        // keep the usable rows, weighted
        int64_t kept = 0;
        auto keep = [&](int64_t r, double target, double weight) {
            if (!usable(target, weight)) return;
            const double sw = std::sqrt(weight);
            double* dst = out + kept * ld;
            const double* src = out + r * ld;
            for (int64_t c = 0; c < width; ++c) dst[c] = sw * src[c];
            rhs[kept++] = sw * target;
        };
        keep(0, t_.energy[f], t_.w_energy[f]);
        if (forces)
            for (int64_t q = 0; q < 3 * N; ++q) keep(1 + q, t_.forces[3 * a0 + q], t_.w_force[f]);
        if (virial)
            for (int v = 0; v < 6; ++v) keep(1 + 3 * N + v, t_.virial[6 * f + v], t_.w_virial[f]);
        return kept;
    }

private:
    // Row r += sign * d(features)/d(.) of the current centre, given the derivative X of Gt: the linear
    // features take X, the quadratic ones d(0.5 Gt_k^2) = Gt_k X_k and d(Gt_k Gt_l) = Gt_k X_l + Gt_l X_k.
    void add(int64_t r, const double* X, double sign) {
        double* p = out_ + r * ld_ + cf_;
        for (int64_t k = 0; k < D_; ++k) p[k] += sign * X[k];
        if (!basis_.quadratic) return;
        double* q = p + D_;
        for (int64_t k = 0; k < D_; ++k) {
            const double bk = sign * Gt_[k], xk = sign * X[k];
            *q++ += bk * X[k];
            for (int64_t l = k + 1; l < D_; ++l) *q++ += bk * X[l] + Gt_[l] * xk;
        }
    }

    const Descriptor& d_;
    const SpeciesMap& sp_;
    const Groups& groups_;
    const LinearBasis& basis_;
    const LinearTargets& t_;
    const int64_t D_;
    Descriptor::AtomJacobian jac_;
    NeighbourList nl_;
    std::vector<double> G_, Gt_, X_, Xsum_, Gframe_;
    std::vector<int64_t> coff_;
    const double* sc_ = nullptr;
    int64_t cf_ = 0;
    double* out_ = nullptr;
    int64_t ld_ = 0;
};

void check_inputs(const Descriptor& d, const SpeciesMap& sp, const FrameBatch& b, const LinearTargets& t) {
    if (!d.has_jacobian()) throw std::invalid_argument("the descriptor provides no per-centre Jacobian rows");
    if (!t.energy || !t.forces || !t.w_energy || !t.w_force)
        throw std::invalid_argument("energy, forces and their weights are required");
    if (t.virial && !t.w_virial) throw std::invalid_argument("virial targets need virial weights");
    if (sp.size() > 64) throw std::invalid_argument("at most 64 species");
    d.check(b);
    sp.check(b);
}

// One chunk's share of the normal equations: the blocks of the pairs of column groups it met.
struct Part {
    std::vector<RowMat> blocks;  // [n_groups^2], (a, c) with a <= c; empty when never met (row-major as ata)
    Eigen::VectorXd atb;
    double btb = 0.0;
    int64_t rows = 0;
};

}  // namespace

void linear_normal_equations(const Descriptor& d, const SpeciesMap& species, const FrameBatch& b,
                             const LinearBasis& basis, const LinearTargets& t, double* ata, double* atb, double* btb,
                             int64_t* n_rows) {
    check_inputs(d, species, b, t);
    const Groups groups(basis, species.size(), d.size());
    const int64_t n = groups.n, ng = groups.size();
    // frames sorted by the species they hold, so consecutive frames share one product
    std::vector<uint64_t> mask(b.n_frames);
    for (int64_t f = 0; f < b.n_frames; ++f) mask[f] = species_mask(species, b, f);
    std::vector<int64_t> order(b.n_frames);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return mask[x] < mask[y]; });
    // chunk bounds (positions in `order`) at equal cost: rows x (products + row building)
    std::vector<double> cost(b.n_frames + 1, 0.0);
    for (int64_t q = 0; q < b.n_frames; ++q) {
        const int64_t f = order[q];
        const double w = static_cast<double>(groups.width(groups.present(mask[f])));
        cost[q + 1] = cost[q] + static_cast<double>(count_rows(b, t, f).total()) * (0.5 * w * w + 2.0e4);
    }
    const int64_t K = frame_chunk_count(b.n_frames, b.n_atoms(), kAtomsPerChunk);
    std::vector<int64_t> bounds(K + 1, b.n_frames);
    bounds[0] = 0;
    for (int64_t k = 1, q = 0; k < K; ++k) {
        while (q < b.n_frames && cost[q] < cost[b.n_frames] * k / K) ++q;
        bounds[k] = std::max(q, bounds[k - 1]);
    }
    std::vector<Part> parts(bounds.size() - 1);
    RowMajorMap M(ata, n, n);
    ExceptionSlot err;
    for_each_chunk_ordered(
        bounds,
        [&](int64_t k, int64_t q0, int64_t q1) {
            Part& part = parts[k];
            part.blocks.resize(ng * ng);
            part.atb = Eigen::VectorXd::Zero(n);
            FrameRows rows(d, species, groups, basis, t);
            int64_t ld = 1, max_rows = 1;
            for (int64_t q = q0; q < q1; ++q) {
                ld = std::max(ld, groups.width(groups.present(mask[order[q]])));
                max_rows = std::max<int64_t>(max_rows, 7 + 3 * b.frame_size(order[q]));
            }
            // batch of rows: about 32 MB, at least one frame
            const int64_t cap = std::max<int64_t>(max_rows, std::min<int64_t>(2048, (int64_t(4) << 20) / ld));
            Eigen::MatrixXd buf(ld, cap);
            Eigen::VectorXd rhs(cap);
            int64_t used = 0;
            uint64_t cur = 0;
            std::vector<int> present;
            auto flush = [&] {
                if (used == 0) return;
                const int np = static_cast<int>(present.size());
                int64_t ca = 0;
                for (int a = 0; a < np; ++a) {
                    const int ga = present[a];
                    const int64_t la = groups.len[ga];
                    const auto Ua = buf.block(ca, 0, la, used);
                    part.atb.segment(groups.off[ga], la).noalias() += Ua * rhs.head(used);
                    RowMat& D = part.blocks[ga * ng + ga];
                    if (D.size() == 0) D.setZero(la, la);
                    D.selfadjointView<Eigen::Upper>().rankUpdate(Ua);
                    int64_t cc = ca + la;
                    for (int c = a + 1; c < np; ++c) {
                        const int gc = present[c];
                        const int64_t lc = groups.len[gc];
                        RowMat& B = part.blocks[ga * ng + gc];
                        if (B.size() == 0) B.setZero(la, lc);
                        B.noalias() += Ua * buf.block(cc, 0, lc, used).transpose();
                        cc += lc;
                    }
                    ca += la;
                }
                part.btb += rhs.head(used).squaredNorm();
                part.rows += used;
                used = 0;
            };
            for (int64_t q = q0; q < q1; ++q) {
                const int64_t f = order[q];
                if (count_rows(b, t, f).total() == 0) continue;
                const int64_t need = 7 + 3 * b.frame_size(f);
                if (used > 0 && (mask[f] != cur || used + need > cap)) flush();
                if (present.empty() || mask[f] != cur) {
                    cur = mask[f];
                    present = groups.present(cur);
                }
                err.run_frame(f, [&] { used += rows.build(b, f, present, buf.data() + used * ld, ld, rhs.data() + used); });
                err.rethrow();
            }
            flush();
        },
        [&](int64_t k) {
            Part& part = parts[k];
            for (int64_t a = 0; a < ng; ++a)
                for (int64_t c = a; c < ng; ++c) {
                    const RowMat& B = part.blocks[a * ng + c];
                    if (B.size()) M.block(groups.off[a], groups.off[c], B.rows(), B.cols()) += B;
                }
            Eigen::Map<Eigen::VectorXd>(atb, n) += part.atb;
            *btb += part.btb;
            *n_rows += part.rows;
            part = Part();
        },
        /*streaming=*/true);
    // mirror the upper triangle (blocks of groups that never meet stay zero)
    for (int64_t i = 1; i < n; ++i)
        for (int64_t j = 0; j < i; ++j) ata[i * n + j] = ata[j * n + i];
}

int64_t linear_count_rows(const FrameBatch& b, const LinearTargets& t) {
    int64_t n = 0;
    for (int64_t f = 0; f < b.n_frames; ++f) n += count_rows(b, t, f).total();
    return n;
}

void linear_design_matrix(const Descriptor& d, const SpeciesMap& species, const FrameBatch& b,
                          const LinearBasis& basis, const LinearTargets& t, double* A, double* rhs) {
    check_inputs(d, species, b, t);
    const Groups groups(basis, species.size(), d.size());
    const int64_t n = groups.n;
    std::vector<int64_t> first(b.n_frames + 1, 0);
    for (int64_t f = 0; f < b.n_frames; ++f) first[f + 1] = first[f] + count_rows(b, t, f).total();
    ExceptionSlot err;
#pragma omp parallel num_threads(max_threads())
    {
        std::unique_ptr<FrameRows> rows_;
        err.run([&] { rows_ = std::make_unique<FrameRows>(d, species, groups, basis, t); });
        std::vector<double> buf, r;
#pragma omp for schedule(dynamic, 1)
        for (int64_t f = 0; f < b.n_frames; ++f) {
            if (err.failed() || first[f + 1] == first[f]) continue;
            err.run_frame(f, [&] {
                const std::vector<int> present = groups.present(species_mask(species, b, f));
                const int64_t width = groups.width(present), nr = 7 + 3 * b.frame_size(f);
                buf.resize(width * nr);
                r.resize(nr);
                const int64_t kept = rows_->build(b, f, present, buf.data(), width, r.data());
                if (kept != first[f + 1] - first[f]) throw std::logic_error("row count mismatch");
                for (int64_t q = 0; q < kept; ++q) {
                    double* row = A + (first[f] + q) * n;
                    std::fill(row, row + n, 0.0);
                    int64_t c = 0;
                    for (const int g : present) {
                        std::copy(&buf[q * width + c], &buf[q * width + c + groups.len[g]], row + groups.off[g]);
                        c += groups.len[g];
                    }
                    rhs[first[f] + q] = r[q];
                }
            });
        }
    }
    err.rethrow();
}

}  // namespace ldrx
