// Thread helpers: OpenMP when available, a serial fallback otherwise.
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ldrx {

inline int max_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

inline int thread_id() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

inline void set_max_threads(int n) {
#ifdef _OPENMP
    if (n > 0) omp_set_num_threads(n);
#else
    (void)n;
#endif
}

inline bool has_openmp() {
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
}

// Keeps the first exception thrown inside an OpenMP region, to rethrow after it.
class ExceptionSlot {
public:
    template <class F>
    void run(F&& fn) noexcept {
        try {
            fn();
        } catch (...) {
            std::lock_guard<std::mutex> lock(m_);
            if (!e_) e_ = std::current_exception();
        }
    }
    // As run(), and an invalid_argument from frame f is re-thrown as "frame f: <message>".
    template <class F>
    void run_frame(int64_t f, F&& fn) noexcept {
        try {
            fn();
        } catch (const std::invalid_argument& e) {
            std::lock_guard<std::mutex> lock(m_);
            if (!e_) e_ = std::make_exception_ptr(std::invalid_argument("frame " + std::to_string(f) + ": " + e.what()));
        } catch (...) {
            std::lock_guard<std::mutex> lock(m_);
            if (!e_) e_ = std::current_exception();
        }
    }
    bool failed() const { return static_cast<bool>(e_); }
    void rethrow() const {
        if (e_) std::rethrow_exception(e_);
    }

private:
    std::mutex m_;
    std::exception_ptr e_;
};

// Ordered, thread-count independent reduction over the frames of a batch (used by the ANN and MTP
// trainers). Frames [0, n_frames) are cut into a fixed number of contiguous chunks of about
// `atoms_per_chunk` atoms each (the cut depends on the data only, never on the thread count); chunks run
// in parallel, run_chunk(k, f0, f1) writing chunk k's partial results into storage the caller owns per
// chunk, and then combine(k) is called for k = 0, 1, ... in order on the calling thread. Sums built this
// way are bit-identical whatever the number of threads. Exceptions thrown by run_chunk are re-thrown.
template <class RunChunk, class Combine>
void for_each_frame_chunk_ordered(int64_t n_frames, int64_t n_atoms, int64_t atoms_per_chunk, RunChunk&& run_chunk,
                                  Combine&& combine) {
    const int64_t K = std::max<int64_t>(1, std::min<int64_t>(n_frames, (n_atoms + atoms_per_chunk - 1) / atoms_per_chunk));
    std::vector<int64_t> bounds(K + 1);
    for (int64_t k = 0; k <= K; ++k) bounds[k] = n_frames * k / K;
    ExceptionSlot err;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t k = 0; k < K; ++k) {
        if (err.failed()) continue;
        err.run([&] { run_chunk(k, bounds[k], bounds[k + 1]); });
    }
    err.rethrow();
    for (int64_t k = 0; k < K; ++k) combine(k);
}

// Number of chunks for_each_frame_chunk_ordered uses (to size per-chunk storage beforehand).
inline int64_t frame_chunk_count(int64_t n_frames, int64_t n_atoms, int64_t atoms_per_chunk) {
    return std::max<int64_t>(1, std::min<int64_t>(n_frames, (n_atoms + atoms_per_chunk - 1) / atoms_per_chunk));
}

}  // namespace ldrx
