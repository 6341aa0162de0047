// The single extension module ldrx._core. Each family registers its own bindings in its own file.
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace ldrx {
void register_core(py::module_& m);
void register_chebyshev(py::module_& m);
void register_ann(py::module_& m);
void register_snap(py::module_& m);
void register_mtp(py::module_& m);
void register_soap(py::module_& m);
void register_gap(py::module_& m);
}  // namespace ldrx

#ifndef LDRX_MODULE_NAME
#define LDRX_MODULE_NAME _core
#endif

PYBIND11_MODULE(LDRX_MODULE_NAME, m) {
    m.doc() = "ldrx compiled core: neighbour lists, descriptors and model kernels";
    ldrx::register_core(m);
    ldrx::register_chebyshev(m);
    ldrx::register_ann(m);
    ldrx::register_snap(m);
    ldrx::register_mtp(m);
    ldrx::register_soap(m);
    ldrx::register_gap(m);
}
