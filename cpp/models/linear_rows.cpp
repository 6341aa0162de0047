#include "models/linear_rows.hpp"

#include <Eigen/Dense>
#include <cmath>
#include <vector>

#include "core/neighbours.hpp"
#include "core/parallel.hpp"

namespace ldrx {

namespace {

using RowMat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct Part {
    Eigen::MatrixXd ata;
    Eigen::VectorXd atb;
    double btb = 0.0;
    int64_t rows = 0;
};

void frames_chunk(const Descriptor& d, const SpeciesMap& sp, const FrameBatch& b, bool shared, const LinearTargets& t,
                  int64_t f0, int64_t f1, Part& out) {
    const int64_t D = d.size(), S = sp.size(), n = linear_columns(S, D, shared);
    out.ata = Eigen::MatrixXd::Zero(n, n);
    out.atb = Eigen::VectorXd::Zero(n);
    NeighbourList nl;
    std::vector<double> G(D), J;
    RowMat R;
    Eigen::VectorXd y;
    for (int64_t f = f0; f < f1; ++f) {
        const FrameView fv = b.frame(f);
        const int64_t N = fv.n_atoms, a0 = b.first_atom(f);
        if (N == 0) continue;
        build_neighbour_list(fv, d.cutoff(), nl, 1);
        const bool vir = t.virial != nullptr;
        const int64_t nr = 1 + 3 * N + (vir ? 6 : 0);
        R.setZero(nr, n);
        y.setZero(nr);
        for (int64_t i = 0; i < N; ++i) {
            const int s = sp(fv.numbers[i]);
            const int64_t c0 = shared ? S : s * (1 + D) + 1;  // first feature column of atom i
            const int64_t cc = shared ? s : s * (1 + D);      // constant column
            const int64_t np = nl.end(i) - nl.begin(i);
            J.resize(np * 3 * D);
            d.jacobian(fv, nl, i, G.data(), J.data());
            R(0, cc) += 1.0;
            for (int64_t k = 0; k < D; ++k) R(0, c0 + k) += G[k];
            for (int64_t p = 0; p < np; ++p) {
                const int64_t e = nl.begin(i) + p;
                const int64_t a = nl.index[e];
                const double* vec = &nl.vec[3 * e];
                for (int x = 0; x < 3; ++x) {
                    const double* Jr = &J[(p * 3 + x) * D];
                    double* ra = &R(1 + 3 * a + x, c0);
                    double* ri = &R(1 + 3 * i + x, c0);
                    for (int64_t k = 0; k < D; ++k) {
                        ra[k] -= Jr[k];
                        ri[k] += Jr[k];
                    }
                }
                if (vir)
                    for (int v = 0; v < 6; ++v) {
                        const double dp = vec[kVoigt[v][0]];
                        const double* Jr = &J[(p * 3 + kVoigt[v][1]) * D];
                        double* rv = &R(1 + 3 * N + v, c0);
                        for (int64_t k = 0; k < D; ++k) rv[k] -= dp * Jr[k];
                    }
            }
        }
        // weights and targets; rows without a target get weight 0
        auto weigh = [&](int64_t row, double target, double wgt) {
            if (!std::isfinite(target) || !(wgt > 0.0)) {
                R.row(row).setZero();
                y(row) = 0.0;
                return;
            }
            const double sw = std::sqrt(wgt);
            R.row(row) *= sw;
            y(row) = sw * target;
            out.btb += y(row) * y(row);
            ++out.rows;
        };
        weigh(0, t.energy[f], t.w_energy[f]);
        for (int64_t k = 0; k < 3 * N; ++k) weigh(1 + k, t.forces[3 * a0 + k], t.w_force[f]);
        if (vir)
            for (int v = 0; v < 6; ++v) weigh(1 + 3 * N + v, t.virial[6 * f + v], t.w_virial[f]);
        out.ata.selfadjointView<Eigen::Lower>().rankUpdate(R.transpose());
        out.atb.noalias() += R.transpose() * y;
    }
}

}  // namespace

void linear_normal_equations(const Descriptor& d, const SpeciesMap& species, const FrameBatch& b, bool shared,
                             const LinearTargets& t, double* ata, double* atb, double* btb, int64_t* n_rows) {
    if (!d.has_jacobian()) throw std::invalid_argument("the descriptor provides no per-centre Jacobian rows");
    species.check(b);
    const int64_t n = linear_columns(species.size(), d.size(), shared);
    const int64_t K = frame_chunk_count(b.n_frames, b.n_atoms(), 4096);
    std::vector<Part> parts(K);
    Eigen::MatrixXd M = Eigen::MatrixXd::Zero(n, n);
    for_each_frame_chunk_ordered(
        b.n_frames, b.n_atoms(), 4096,
        [&](int64_t k, int64_t f0, int64_t f1) { frames_chunk(d, species, b, shared, t, f0, f1, parts[k]); },
        [&](int64_t k) {
            M += parts[k].ata;
            for (int64_t c = 0; c < n; ++c) atb[c] += parts[k].atb(c);
            *btb += parts[k].btb;
            *n_rows += parts[k].rows;
            parts[k] = Part();
        });
    // lower triangle holds the sums; write the full symmetric matrix (row-major = column-major here)
    for (int64_t r = 0; r < n; ++r)
        for (int64_t c = 0; c <= r; ++c) {
            const double v = M(r, c);
            ata[r * n + c] += v;
            if (c != r) ata[c * n + r] += v;
        }
}

}  // namespace ldrx
