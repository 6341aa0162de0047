// Thread helpers: OpenMP when available, a serial fallback otherwise.
//
// The thread count of ldrx's parallel regions is one process-wide setting (set_max_threads), passed
// explicitly to every region as num_threads(max_threads()), so a call from any Python thread changes it
// for all; until it is set, OpenMP's default (OMP_NUM_THREADS) applies. A region may be granted fewer
// threads than it asks for (nested regions, OMP_THREAD_LIMIT, OMP_DYNAMIC): code that splits work by
// thread number must use the team size it got (omp_get_num_threads() inside the region).
#pragma once

#include <algorithm>
#include <atomic>
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

namespace detail {
inline std::atomic<int>& thread_setting() {
    static std::atomic<int> n{0};  // 0: not set, OpenMP's default
    return n;
}
}  // namespace detail

inline int max_threads() {
#ifdef _OPENMP
    const int n = detail::thread_setting().load(std::memory_order_relaxed);
    return n > 0 ? n : omp_get_max_threads();
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

// Threads in the current team (1 outside a parallel region).
inline int team_size() {
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

// Sets the threads of every later ldrx parallel region, from any thread. Throws for n < 1.
inline void set_max_threads(int n) {
    if (n < 1) throw std::invalid_argument("the number of threads must be >= 1, got " + std::to_string(n));
    detail::thread_setting().store(n, std::memory_order_relaxed);
}

inline bool has_openmp() {
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
}

// Keeps the first exception thrown inside an OpenMP region, to rethrow after it: an exception must never
// leave a parallel region (that calls std::terminate and kills the interpreter), so every region runs
// its work through run() / run_frame() and calls rethrow() after it.
class ExceptionSlot {
public:
    template <class F>
    void run(F&& fn) noexcept {
        try {
            fn();
        } catch (...) {
            store(std::current_exception());
        }
    }
    // As run(), and an invalid_argument from frame f is re-thrown as "frame f: <message>".
    template <class F>
    void run_frame(int64_t f, F&& fn) noexcept {
        try {
            fn();
        } catch (const std::invalid_argument& e) {
            try {
                store(std::make_exception_ptr(std::invalid_argument("frame " + std::to_string(f) + ": " + e.what())));
            } catch (...) {
                store(std::current_exception());
            }
        } catch (...) {
            store(std::current_exception());
        }
    }
    // True once some thread has failed (other threads may skip their remaining work).
    bool failed() const { return failed_.load(std::memory_order_acquire); }
    void rethrow() const {
        std::lock_guard<std::mutex> lock(m_);
        if (e_) std::rethrow_exception(e_);
    }

private:
    void store(std::exception_ptr e) noexcept {
        std::lock_guard<std::mutex> lock(m_);
        if (!e_) e_ = std::move(e);
        failed_.store(true, std::memory_order_release);
    }
    mutable std::mutex m_;
    std::exception_ptr e_;
    std::atomic<bool> failed_{false};
};

// Ordered, thread-count independent reduction over chunks (the ANN, MTP and linear-fit trainers). Chunk k
// covers [bounds[k], bounds[k+1]) (the caller's cut, which must depend on the data only, never on the thread
// count); chunks run in parallel, run_chunk(k, lo, hi) writing chunk k's partial results into storage the
// caller owns per chunk, and combine(k) is called for k = 0, 1, ... in order, one call at a time. Sums built
// this way are bit-identical whatever the number of threads. Without `streaming`, every combine runs after
// all chunks, on the calling thread. With `streaming`, combine(k) runs as soon as chunks 0 .. k are done (on
// the thread that finished last, under a lock), so only the chunks in flight or waiting for an earlier one
// hold partial results: for large partials (a normal-equations matrix per chunk). Exceptions thrown by
// run_chunk or combine are re-thrown.
template <class RunChunk, class Combine>
void for_each_chunk_ordered(const std::vector<int64_t>& bounds, RunChunk&& run_chunk, Combine&& combine,
                            bool streaming = false) {
    const int64_t K = static_cast<int64_t>(bounds.size()) - 1;
    ExceptionSlot err;
    std::mutex m;
    std::vector<char> done(std::max<int64_t>(K, 0), 0);
    int64_t next = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(max_threads())
    for (int64_t k = 0; k < K; ++k) {
        if (err.failed()) continue;
        err.run([&] {
            run_chunk(k, bounds[k], bounds[k + 1]);
            if (!streaming) return;
            std::lock_guard<std::mutex> lock(m);
            done[k] = 1;
            while (next < K && done[next] && !err.failed()) combine(next++);
        });
    }
    err.rethrow();
    if (!streaming)
        for (int64_t k = 0; k < K; ++k) combine(k);
}

// The frames [0, n_frames) of a batch cut into a fixed number of contiguous chunks of about
// `atoms_per_chunk` atoms each (by frame count; the cut depends on the data only).
inline int64_t frame_chunk_count(int64_t n_frames, int64_t n_atoms, int64_t atoms_per_chunk) {
    return std::max<int64_t>(1, std::min<int64_t>(n_frames, (n_atoms + atoms_per_chunk - 1) / atoms_per_chunk));
}

inline std::vector<int64_t> frame_chunk_bounds(int64_t n_frames, int64_t n_atoms, int64_t atoms_per_chunk) {
    const int64_t K = frame_chunk_count(n_frames, n_atoms, atoms_per_chunk);
    std::vector<int64_t> bounds(K + 1);
    for (int64_t k = 0; k <= K; ++k) bounds[k] = n_frames * k / K;
    return bounds;
}

template <class RunChunk, class Combine>
void for_each_frame_chunk_ordered(int64_t n_frames, int64_t n_atoms, int64_t atoms_per_chunk, RunChunk&& run_chunk,
                                  Combine&& combine) {
    for_each_chunk_ordered(frame_chunk_bounds(n_frames, n_atoms, atoms_per_chunk), run_chunk, combine);
}

}  // namespace ldrx
