// Bindings of the core: threads, neighbour lists, overlap checks.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "bindings/common.hpp"
#include "core/neighbours.hpp"
#include "core/parallel.hpp"
#include "core/species.hpp"

namespace ldrx {

void register_core(py::module_& m) {
    bind_batch(m);
    py::class_<Descriptor>(m, "Descriptor", "Base of the C++ descriptors");
#ifdef LDRX_VERSION
    m.attr("__version__") = LDRX_VERSION;
#endif
    m.def("has_openmp", &has_openmp, "True if the core was built with OpenMP");
    m.def("get_num_threads", &max_threads, "threads the core's OpenMP regions use");
    m.def("set_num_threads", &set_max_threads, py::arg("n"),
          "set the threads of every later OpenMP region of the core, from any thread (ValueError for n < 1)");

    m.def("neighbour_list", [](const PyBatch& b, int64_t frame, double cutoff, int threads) {
        const FrameBatch v = b.view();
        if (frame < 0 || frame >= v.n_frames) throw std::out_of_range("frame index out of range");
        NeighbourList nl;
        {
            py::gil_scoped_release nogil;
            build_neighbour_list(v.frame(frame), cutoff, nl, threads, true);
        }
        const int64_t np = nl.n_pairs();
        py::array_t<int64_t> start(nl.start.size());
        py::array_t<int32_t> index(np);
        py::array_t<double> vec({np, int64_t(3)});
        py::array_t<double> dist(np);
        py::array_t<int32_t> shift({np, int64_t(3)});
        std::copy(nl.start.begin(), nl.start.end(), start.mutable_data());
        std::copy(nl.index.begin(), nl.index.end(), index.mutable_data());
        std::copy(nl.vec.begin(), nl.vec.end(), vec.mutable_data());
        std::copy(nl.dist.begin(), nl.dist.end(), dist.mutable_data());
        std::copy(nl.shift.begin(), nl.shift.end(), shift.mutable_data());
        return py::make_tuple(start, index, vec, dist, shift);
    }, py::arg("batch"), py::arg("frame"), py::arg("cutoff"), py::arg("threads") = 1,
       "Full neighbour list of one frame: (start [n+1], index [p], vec [p,3] = r_j + S - r_i, dist [p], shift [p,3])");

    m.def("closest_pairs", [](const PyBatch& b, double cutoff) {
        const FrameBatch v = b.view();
        const int64_t nf = v.n_frames;
        py::array_t<double> dist(nf);
        py::array_t<int64_t> pairs({nf, int64_t(2)});
        double* d = dist.mutable_data();
        int64_t* p = pairs.mutable_data();
        {
            py::gil_scoped_release nogil;
            ExceptionSlot err;
#pragma omp parallel for schedule(dynamic, 4) num_threads(max_threads())
            for (int64_t f = 0; f < nf; ++f)
                err.run_frame(f, [&] {
                    double r;
                    int64_t i = -1, j = -1;
                    if (!closest_pair(v.frame(f), cutoff, r, i, j)) r = std::numeric_limits<double>::infinity();
                    d[f] = r;
                    p[2 * f] = i;
                    p[2 * f + 1] = j;
                });
            err.rethrow();
        }
        return py::make_tuple(dist, pairs);
    }, py::arg("batch"), py::arg("cutoff"),
       "Per frame, the shortest interatomic distance below cutoff (inf if none) and its atom pair (-1 if none)");

    m.def("pair_min_distances", [](const PyBatch& b, double cutoff, std::vector<int> species) {
        const FrameBatch v = b.view();
        const SpeciesMap map(species);
        map.check(v);
        const int64_t nf = v.n_frames, S = map.size();
        py::array_t<double> out({nf, S, S});
        double* o = out.mutable_data();
        std::fill(o, o + nf * S * S, std::numeric_limits<double>::infinity());
        {
            py::gil_scoped_release nogil;
            ExceptionSlot err;
#pragma omp parallel num_threads(max_threads())
            {
                NeighbourList nl;
#pragma omp for schedule(dynamic, 4)
                for (int64_t f = 0; f < nf; ++f)
                    err.run_frame(f, [&] {
                        const FrameView fv = v.frame(f);
                        build_neighbour_list(fv, cutoff, nl, 1);
                        double* m = o + f * S * S;
                        for (int64_t i = 0; i < fv.n_atoms; ++i) {
                            const int si = map(fv.numbers[i]);
                            for (int64_t p = nl.begin(i); p < nl.end(i); ++p) {
                                const int sj = map(fv.numbers[nl.index[p]]);
                                m[si * S + sj] = std::min(m[si * S + sj], nl.dist[p]);
                            }
                        }
                    });
            }
            err.rethrow();
        }
        return out;
    }, py::arg("batch"), py::arg("cutoff"), py::arg("species"),
       "Per frame, the shortest distance between atoms of each pair of species (below cutoff, else inf): [n_frames, S, S]");
}

}  // namespace ldrx
