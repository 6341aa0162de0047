#include "models/snap.hpp"

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

#include "core/parallel.hpp"

namespace ldrx {
namespace {

using RowMajorMap = Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
using VectorMap = Eigen::Map<Eigen::VectorXd>;

// Bit s set when species s has atoms in frame f.
uint64_t species_mask(const BispectrumDescriptor& d, const FrameBatch& b, int64_t f) {
    uint64_t m = 0;
    for (int64_t a = b.offsets[f]; a < b.offsets[f + 1]; ++a) m |= uint64_t(1) << d.species().find(b.numbers[a]);
    return m;
}

std::vector<int> mask_species(uint64_t m, int n_species) {
    std::vector<int> out;
    for (int s = 0; s < n_species; ++s)
        if (m >> s & 1) out.push_back(s);
    return out;
}

inline bool usable(double target, double weight) { return std::isfinite(target) && weight > 0.0 && std::isfinite(weight); }

// Rows that frame f gives: energy, forces, virial.
struct RowCount {
    bool energy = false, virial = false;
    int64_t forces = 0;
    int64_t total() const { return (energy ? 1 : 0) + forces + (virial ? 6 : 0); }
};

RowCount count_rows(const FrameBatch& b, const SnapTargets& t, int64_t f) {
    RowCount c;
    c.energy = usable(t.energy[f], t.w_energy[f]);
    if (t.w_force[f] > 0.0)
        for (int64_t q = 3 * b.offsets[f]; q < 3 * b.offsets[f + 1]; ++q) c.forces += std::isfinite(t.forces[q]) ? 1 : 0;
    if (t.virial && t.w_virial[f] > 0.0)
        for (int v = 0; v < 6; ++v) c.virial = c.virial || std::isfinite(t.virial[6 * f + v]);
    return c;
}

// Builds the weighted rows of one frame on the compacted columns of the species it holds.
class FrameRows {
public:
    FrameRows(const BispectrumDescriptor& d, const SnapBasis& basis, const SnapTargets& t)
        : d_(d), basis_(basis), t_(t), w_(d.make_work()) {
        nc_ = basis.ncoeff;
        P_ = basis.per_species();
        B_.resize(nc_);
        Bt_.resize(nc_);
        dB_.resize(nc_);
        X_.resize(3 * nc_);
        Xsum_.resize(3 * nc_);
        coff_.assign(d.n_species(), -1);
    }

    // Writes the rows of frame f into out (column-major: one row of A per column of length >= the
    // compacted width, leading dimension ld) and their targets into rhs; returns how many rows were kept.
    // `present` must list the frame's species in order.
    int64_t build(const FrameBatch& b, int64_t f, const std::vector<int>& present, double* out, int64_t ld,
                  double* rhs) {
        const FrameView fv = b.frame(f);
        const int64_t N = fv.n_atoms, a0 = b.offsets[f];
        std::fill(coff_.begin(), coff_.end(), -1);
        for (size_t q = 0; q < present.size(); ++q) coff_[present[q]] = static_cast<int64_t>(q) * P_;
        const int64_t width = static_cast<int64_t>(present.size()) * P_;
        const RowCount rc = count_rows(b, t_, f);
        const bool forces = rc.forces > 0, virial = rc.virial;
        const int64_t n_all = 1 + 3 * N + (virial ? 6 : 0);
        for (int64_t r = 0; r < n_all; ++r) std::fill(out + r * ld, out + r * ld + width, 0.0);
        out_ = out;
        ld_ = ld;
        build_neighbour_list(fv, d_.cutoff(), nl_, 1);
        const double invN = 1.0 / N;
        for (int64_t i = 0; i < N; ++i) {
            d_.compute_ui(fv, nl_, i, forces || virial, w_);
            d_.compute_zi(w_, forces || virial);
            d_.compute_bi(w_, B_.data());
            const int s = w_.species;
            const double* sh = basis_.shift + s * nc_;
            const double* sc = basis_.scale + s * nc_;
            for (int64_t k = 0; k < nc_; ++k) Bt_[k] = sc[k] * (B_[k] - sh[k]);
            // energy row: sum over atoms of the columns, per atom of the frame
            double* e = out + coff_[s];
            e[0] += invN;
            for (int64_t k = 0; k < nc_; ++k) e[1 + k] += invN * Bt_[k];
            if (basis_.quadratic) {
                double* q = e + 1 + nc_;
                for (int64_t k = 0; k < nc_; ++k) {
                    *q++ += invN * 0.5 * Bt_[k] * Bt_[k];
                    for (int64_t l = k + 1; l < nc_; ++l) *q++ += invN * Bt_[k] * Bt_[l];
                }
            }
            if (!forces && !virial) continue;
            d_.compute_dbidrk(w_, virial);
            if (forces) {
                std::fill(Xsum_.begin(), Xsum_.end(), 0.0);
                for (size_t q = 0; q < w_.katom.size(); ++q) {
                    const int64_t k = w_.katom[q];
                    for (int x = 0; x < 3; ++x) {
                        const double* g = &w_.dbdr[(q * 3 + x) * nc_];
                        double* X = &X_[x * nc_];
                        for (int64_t c = 0; c < nc_; ++c) {
                            X[c] = sc[c] * g[c];
                            Xsum_[x * nc_ + c] += X[c];
                        }
                        add(1 + 3 * k + x, s, X, -1.0);  // F_k = -dE_i/dd
                    }
                }
                for (int x = 0; x < 3; ++x) add(1 + 3 * i + x, s, &Xsum_[x * nc_], 1.0);  // F_i = +dE_i/dd
            }
            if (virial) {
                for (int v = 0; v < 6; ++v) {
                    for (int64_t c = 0; c < nc_; ++c) dB_[c] = sc[c] * w_.dbvir[v * nc_ + c];
                    add(1 + 3 * N + v, s, dB_.data(), -invN);  // W = -sum d (x) dE/dd, per atom
                }
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
    // Row r, block of species s, += sign * d(columns)/d(.) given the linear part X (scaled dB):
    // quadratic columns d(0.5 Bt_k^2) = Bt_k X_k and d(Bt_k Bt_l) = Bt_k X_l + Bt_l X_k.
    void add(int64_t r, int s, const double* X, double sign) {
        double* p = out_ + r * ld_ + coff_[s] + 1;
        for (int64_t k = 0; k < nc_; ++k) p[k] += sign * X[k];
        if (!basis_.quadratic) return;
        double* q = p + nc_;
        for (int64_t k = 0; k < nc_; ++k) {
            const double bk = sign * Bt_[k], xk = sign * X[k];
            *q++ += bk * X[k];
            for (int64_t l = k + 1; l < nc_; ++l) *q++ += bk * X[l] + Bt_[l] * xk;
        }
    }

    const BispectrumDescriptor& d_;
    const SnapBasis& basis_;
    const SnapTargets& t_;
    BispectrumDescriptor::Work w_;
    NeighbourList nl_;
    int64_t nc_, P_;
    std::vector<double> B_, Bt_, dB_, X_, Xsum_;
    std::vector<int64_t> coff_;
    double* out_ = nullptr;
    int64_t ld_ = 0;
};

void check_inputs(const BispectrumDescriptor& d, const FrameBatch& b, const SnapBasis& basis, const SnapTargets& t) {
    d.check(b);
    if (basis.ncoeff != d.size()) throw std::invalid_argument("the basis does not match the descriptor's components");
    if (!basis.shift || !basis.scale || !t.energy || !t.forces || !t.w_energy || !t.w_force)
        throw std::invalid_argument("shift, scale, energy, forces and their weights are required");
    if (t.virial && !t.w_virial) throw std::invalid_argument("virial targets need virial weights");
    if (d.n_species() > 64) throw std::invalid_argument("at most 64 species");
}

// E_i = beta0 + beta . B + 0.5 B^T alpha B of one species' coefficient row c, and beta_eff = dE_i/dB =
// beta + alpha B.
double atom_energy(const double* c, int64_t nc, bool quadratic, const double* B, double* beta_eff) {
    const double* beta = c + 1;
    double e = c[0];
    for (int64_t k = 0; k < nc; ++k) e += beta[k] * B[k];
    std::fill(beta_eff, beta_eff + nc, 0.0);
    if (quadratic) {
        // beta_eff = alpha B from the upper triangle, then E += 0.5 B . alpha B
        const double* a = c + 1 + nc;
        for (int64_t k = 0; k < nc; ++k) {
            beta_eff[k] += *a++ * B[k];
            for (int64_t l = k + 1; l < nc; ++l, ++a) {
                beta_eff[k] += *a * B[l];
                beta_eff[l] += *a * B[k];
            }
        }
        double q = 0.0;
        for (int64_t k = 0; k < nc; ++k) q += B[k] * beta_eff[k];
        e += 0.5 * q;
    }
    for (int64_t k = 0; k < nc; ++k) beta_eff[k] += beta[k];
    return e;
}

}  // namespace

void snap_energy_forces(const BispectrumDescriptor& d, const FrameBatch& b, const double* coefficients,
                        bool quadratic, double* energies, double* forces, double* virial) {
    d.check(b);
    const int64_t nc = d.size();
    const int64_t P = SnapBasis{nc, quadratic}.per_species();
    const bool with_forces = forces != nullptr;
    for_each_atom_block_with_forces(
        b, d.cutoff(), forces, virial,
        [&](int64_t f, const FrameView& fv, const NeighbourList& nl, int64_t a0, int64_t a1, double* F, double* W) {
            BispectrumDescriptor::Work& w = d.thread_work();
            thread_local std::vector<double> B, beta_eff;
            B.resize(nc);
            beta_eff.resize(nc);
            double* e = energies + b.first_atom(f);
            for (int64_t i = a0; i < a1; ++i) {
                d.compute_ui(fv, nl, i, with_forces, w);
                d.compute_zi(w, with_forces);
                d.compute_bi(w, B.data());
                e[i] = atom_energy(coefficients + w.species * P, nc, quadratic, B.data(), beta_eff.data());
                if (!with_forces) continue;
                d.compute_yi(beta_eff.data(), w);
                d.add_forces(w, F, W);
            }
        });
}

void snap_normal_equations(const BispectrumDescriptor& d, const FrameBatch& b, const SnapBasis& basis,
                           const SnapTargets& t, double* ata, double* atb, double* btb, int64_t* n_rows) {
    check_inputs(d, b, basis, t);
    const int ns = d.n_species();
    const int64_t P = basis.per_species(), n = ns * P;
    // frames sorted by the species they hold, so consecutive frames share one product
    std::vector<uint64_t> mask(b.n_frames);
    std::vector<double> cost(b.n_frames);
    for (int64_t f = 0; f < b.n_frames; ++f) {
        mask[f] = species_mask(d, b, f);
        const double width = double(__builtin_popcountll(mask[f])) * P;
        cost[f] = count_rows(b, t, f).total() * (0.5 * width * width + 2.0e4);
    }
    std::vector<int64_t> order(b.n_frames);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return mask[x] < mask[y]; });
    // contiguous ranges of about equal cost, one per thread; range 0 adds into ata directly
    const int nt = std::max(1, std::min<int>(max_threads(), static_cast<int>(std::max<int64_t>(b.n_frames, 1))));
    const double total = std::accumulate(cost.begin(), cost.end(), 0.0);
    std::vector<int64_t> lo(nt + 1, b.n_frames);
    lo[0] = 0;
    {
        double acc = 0.0;
        int r = 1;
        for (int64_t q = 0; q < b.n_frames && r < nt; ++q) {
            acc += cost[order[q]];
            while (r < nt && acc >= total * r / nt) lo[r++] = q + 1;
        }
    }
    std::vector<std::vector<double>> local_ata(nt), local_atb(nt);
    std::vector<double> local_btb(nt, 0.0);
    std::vector<int64_t> local_rows(nt, 0);
    ExceptionSlot err;
#pragma omp parallel for schedule(static, 1) num_threads(nt)
    for (int r = 0; r < nt; ++r) {
        err.run([&] {
            if (lo[r] >= lo[r + 1]) return;
            if (r > 0) {
                local_ata[r].assign(n * n, 0.0);
                local_atb[r].assign(n, 0.0);
            }
            RowMajorMap M(r == 0 ? ata : local_ata[r].data(), n, n);
            VectorMap g(r == 0 ? atb : local_atb[r].data(), n);
            FrameRows rows(d, basis, t);
            int64_t ld = 0, max_rows = 1;
            for (int64_t q = lo[r]; q < lo[r + 1]; ++q) {
                ld = std::max<int64_t>(ld, __builtin_popcountll(mask[order[q]]) * P);
                max_rows = std::max<int64_t>(max_rows, 7 + 3 * b.frame_size(order[q]));
            }
            // batch of rows: about 32 MB, at least one frame
            const int64_t cap = std::max<int64_t>(max_rows, std::min<int64_t>(2048, (int64_t(4) << 20) / std::max<int64_t>(ld, 1)));
            Eigen::MatrixXd buf(ld, cap);
            Eigen::VectorXd rhs(cap);
            int64_t used = 0;
            uint64_t cur = 0;
            std::vector<int> present;
            auto flush = [&] {
                if (used == 0) return;
                const int np = static_cast<int>(present.size());
                for (int a = 0; a < np; ++a) {
                    const int64_t ga = present[a] * P;
                    const auto Ua = buf.block(a * P, 0, P, used);
                    g.segment(ga, P).noalias() += Ua * rhs.head(used);
                    M.block(ga, ga, P, P).selfadjointView<Eigen::Upper>().rankUpdate(Ua);
                    for (int c = a + 1; c < np; ++c)
                        M.block(ga, present[c] * P, P, P).noalias() += Ua * buf.block(c * P, 0, P, used).transpose();
                }
                local_btb[r] += rhs.head(used).squaredNorm();
                local_rows[r] += used;
                used = 0;
            };
            for (int64_t q = lo[r]; q < lo[r + 1]; ++q) {
                const int64_t f = order[q];
                if (count_rows(b, t, f).total() == 0) continue;
                const int64_t need = 7 + 3 * b.frame_size(f);
                if (used > 0 && (mask[f] != cur || used + need > cap)) flush();
                if (mask[f] != cur) {
                    cur = mask[f];
                    present = mask_species(cur, ns);
                }
                err.run_frame(f, [&] { used += rows.build(b, f, present, buf.data() + used * ld, ld, rhs.data() + used); });
                if (err.failed()) return;
            }
            flush();
        });
    }
    err.rethrow();
    RowMajorMap M(ata, n, n);
    for (int r = 1; r < nt; ++r) {
        if (local_ata[r].empty()) continue;
        M += RowMajorMap(local_ata[r].data(), n, n);
        VectorMap(atb, n) += VectorMap(local_atb[r].data(), n);
    }
    for (int r = 0; r < nt; ++r) {
        *btb += local_btb[r];
        *n_rows += local_rows[r];
    }
    // mirror the upper triangle (blocks of species pairs that never meet stay zero)
    for (int64_t i = 1; i < n; ++i)
        for (int64_t j = 0; j < i; ++j) ata[i * n + j] = ata[j * n + i];
}

int64_t snap_count_rows(const FrameBatch& b, const SnapTargets& t) {
    int64_t n = 0;
    for (int64_t f = 0; f < b.n_frames; ++f) n += count_rows(b, t, f).total();
    return n;
}

void snap_design_matrix(const BispectrumDescriptor& d, const FrameBatch& b, const SnapBasis& basis,
                        const SnapTargets& t, double* A, double* rhs) {
    check_inputs(d, b, basis, t);
    const int ns = d.n_species();
    const int64_t P = basis.per_species(), n = ns * P;
    std::vector<int64_t> first(b.n_frames + 1, 0);
    for (int64_t f = 0; f < b.n_frames; ++f) first[f + 1] = first[f] + count_rows(b, t, f).total();
    ExceptionSlot err;
#pragma omp parallel num_threads(max_threads())
    {
        std::unique_ptr<FrameRows> rows_;
        err.run([&] { rows_ = std::make_unique<FrameRows>(d, basis, t); });
        std::vector<double> buf, r;
#pragma omp for schedule(dynamic, 1)
        for (int64_t f = 0; f < b.n_frames; ++f) {
            if (err.failed() || first[f + 1] == first[f]) continue;
            err.run_frame(f, [&] {
                FrameRows& rows = *rows_;
                const std::vector<int> present = mask_species(species_mask(d, b, f), ns);
                const int64_t width = static_cast<int64_t>(present.size()) * P, nr = 7 + 3 * b.frame_size(f);
                buf.resize(width * nr);
                r.resize(nr);
                const int64_t kept = rows.build(b, f, present, buf.data(), width, r.data());
                if (kept != first[f + 1] - first[f]) throw std::logic_error("row count mismatch");
                for (int64_t q = 0; q < kept; ++q) {
                    double* row = A + (first[f] + q) * n;
                    std::fill(row, row + n, 0.0);
                    for (size_t a = 0; a < present.size(); ++a)
                        std::copy(&buf[q * width + a * P], &buf[q * width + (a + 1) * P], row + present[a] * P);
                    rhs[first[f] + q] = r[q];
                }
            });
        }
    }
    err.rethrow();
}

}  // namespace ldrx
