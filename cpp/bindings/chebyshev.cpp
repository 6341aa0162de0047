#include "bindings/common.hpp"
#include "descriptors/chebyshev.hpp"

namespace ldrx {

void register_chebyshev(py::module_& m) {
    m.def("aenet_typespin", &aenet_typespin, py::arg("n"), "aenet's default typespin weights for n species");
    py::class_<ChebyshevDescriptor, Descriptor> cls(m, "ChebyshevDescriptor");
    cls.def(py::init([](std::vector<int> species, std::vector<double> weights, double rc_r, int n_r, double rc_a, int n_a) {
                ChebyshevParams p;
                p.species = std::move(species);
                p.weights = std::move(weights);
                p.radial_cutoff = rc_r;
                p.radial_order = n_r;
                p.angular_cutoff = rc_a;
                p.angular_order = n_a;
                return ChebyshevDescriptor(p);
            }),
            py::arg("species"), py::arg("weights"), py::arg("radial_cutoff"), py::arg("radial_order"),
            py::arg("angular_cutoff"), py::arg("angular_order"))
        .def_property_readonly("weights", [](const ChebyshevDescriptor& d) { return d.params().weights; });
    bind_descriptor_methods<ChebyshevDescriptor>(cls);
}

}  // namespace ldrx
