// Bindings of the SNAP family: the bispectrum descriptor, the per-species force rows, and the streaming
// normal equations of the linear / quadratic fits.
#include "bindings/common.hpp"
#include "descriptors/bispectrum.hpp"

namespace ldrx {

void register_snap(py::module_& m) {
    m.def("bispectrum_ncoeff", &bispectrum_ncoeff, py::arg("twojmax"), "number of kept (j1, j2, j) triples");
    m.attr("BISPECTRUM_MAX_CUTOFF") = kBispectrumMaxCutoff;
    m.attr("BISPECTRUM_MAX_TWOJMAX") = kBispectrumMaxTwojmax;

    py::class_<BispectrumDescriptor> cls(m, "BispectrumDescriptor");
    cls.def(py::init([](int twojmax, double rcutfac, double rfac0, double rmin0, std::vector<int> species,
                        std::vector<double> radelem, std::vector<double> wj, bool bzeroflag, bool switchflag) {
                BispectrumParams p;
                p.twojmax = twojmax;
                p.rcutfac = rcutfac;
                p.rfac0 = rfac0;
                p.rmin0 = rmin0;
                p.species = std::move(species);
                p.radelem = std::move(radelem);
                p.wj = std::move(wj);
                p.bzeroflag = bzeroflag;
                p.switchflag = switchflag;
                return BispectrumDescriptor(p);
            }),
            py::arg("twojmax"), py::arg("rcutfac"), py::arg("rfac0"), py::arg("rmin0"), py::arg("species"),
            py::arg("radelem"), py::arg("wj"), py::arg("bzeroflag"), py::arg("switchflag"))
        .def_property_readonly("triples", [](const BispectrumDescriptor& d) {
            std::vector<std::tuple<int, int, int>> out;
            for (const auto& t : d.triples()) out.emplace_back(t.j1, t.j2, t.j);
            return out;
        }, "kept (j1, j2, j) in LAMMPS order, doubled labels")
        .def("pair_cutoff", &BispectrumDescriptor::pair_cutoff, py::arg("species_i"), py::arg("species_k"))
        .def("force_rows", [](const BispectrumDescriptor& d, const PyBatch& b) {
            const FrameBatch v = b.view();
            const int64_t ns = d.n_species(), nc = d.size();
            py::array_t<double> rows({v.n_atoms(), ns, int64_t(3), nc});
            py::array_t<double> vir({v.n_frames, ns, int64_t(6), nc});
            {
                py::gil_scoped_release nogil;
                d.force_rows(v, rows.mutable_data(), vir.mutable_data());
            }
            return py::make_tuple(rows, vir);
        }, py::arg("batch"),
           "(rows [n_atoms, n_species, 3, ncoeff] = -d(sum_{i of species t} B(i))/dr_a (snad/atom), "
           "virial [n_frames, n_species, 6, ncoeff])");
    bind_descriptor_methods<BispectrumDescriptor>(cls);
}

}  // namespace ldrx
