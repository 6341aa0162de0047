// pybind11 glue shared by the binding files: frame batches from numpy arrays, and the generic binding
// of a Descriptor (forward / backward / tangent over a batch, GIL released).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>
#include <string>

#include "core/frames.hpp"
#include "descriptors/descriptor.hpp"

namespace ldrx {
namespace py = pybind11;

template <class T>
using CArray = py::array_t<T, py::array::c_style | py::array::forcecast>;

// Owns references to the numpy arrays of a batch (converted to the right dtype and layout if needed)
// and exposes the FrameBatch view of them.
struct PyBatch {
    CArray<int32_t> numbers;
    CArray<double> positions;
    CArray<double> cells;
    CArray<uint8_t> pbc;
    CArray<int64_t> offsets;

    PyBatch(CArray<int32_t> z, CArray<double> r, CArray<double> c, CArray<uint8_t> p, CArray<int64_t> o)
        : numbers(std::move(z)), positions(std::move(r)), cells(std::move(c)), pbc(std::move(p)), offsets(std::move(o)) {
        if (offsets.ndim() != 1 || offsets.size() < 1) throw std::invalid_argument("offsets must be a 1-d array of n_frames + 1");
        const int64_t nf = offsets.size() - 1;
        const int64_t* o_ = offsets.data();
        if (o_[0] != 0) throw std::invalid_argument("offsets[0] must be 0");
        for (int64_t f = 0; f < nf; ++f)
            if (o_[f + 1] < o_[f]) throw std::invalid_argument("offsets must be non-decreasing");
        const int64_t na = o_[nf];
        if (numbers.size() != na) throw std::invalid_argument("numbers has " + std::to_string(numbers.size()) + " entries, offsets say " + std::to_string(na));
        if (positions.size() != 3 * na) throw std::invalid_argument("positions must be [n_atoms, 3]");
        if (cells.size() != 9 * nf) throw std::invalid_argument("cells must be [n_frames, 3, 3]");
        if (pbc.size() != 3 * nf) throw std::invalid_argument("pbc must be [n_frames, 3]");
    }
    FrameBatch view() const {
        FrameBatch b;
        b.n_frames = offsets.size() - 1;
        b.numbers = numbers.data();
        b.positions = positions.data();
        b.cells = cells.data();
        b.pbc = pbc.data();
        b.offsets = offsets.data();
        return b;
    }
};

inline void bind_batch(py::module_& m) {
    py::class_<PyBatch>(m, "Batch", "Frames in the ldrx layout, as the C++ core sees them (no copies where dtypes match).")
        .def(py::init<CArray<int32_t>, CArray<double>, CArray<double>, CArray<uint8_t>, CArray<int64_t>>(),
             py::arg("numbers"), py::arg("positions"), py::arg("cells"), py::arg("pbc"), py::arg("offsets"))
        .def_property_readonly("n_frames", [](const PyBatch& b) { return b.view().n_frames; })
        .def_property_readonly("n_atoms", [](const PyBatch& b) { return b.view().n_atoms(); });
}

// Runs fn(atom_energy, forces, virial) without the GIL on new arrays [n_atoms], [n_atoms, 3], [n_frames, 6]
// (forces and virial null, and returned as None, unless `forces`); returns (energy, forces, virial).
template <class Fn>
py::tuple energy_forces_call(const FrameBatch& b, bool forces, Fn&& fn) {
    py::array_t<double> e(b.n_atoms());
    py::object F = py::none(), W = py::none();
    double *fp = nullptr, *wp = nullptr;
    if (forces) {
        py::array_t<double> fa({b.n_atoms(), int64_t(3)}), wa({b.n_frames, int64_t(6)});
        fp = fa.mutable_data();
        wp = wa.mutable_data();
        F = fa;
        W = wa;
    }
    {
        py::gil_scoped_release nogil;
        fn(e.mutable_data(), fp, wp);
    }
    return py::make_tuple(e, F, W);
}

// Adds forward/backward/tangent/size/cutoff to a pybind11 class of a Descriptor subclass.
template <class D, class Cls>
void bind_descriptor_methods(Cls& cls) {
    cls.def_property_readonly("size", [](const D& d) { return d.size(); }, "features per atom")
        .def_property_readonly("cutoff", [](const D& d) { return d.cutoff(); })
        .def("forward", [](const D& d, const PyBatch& b) {
            const FrameBatch v = b.view();
            py::array_t<double> G({v.n_atoms(), d.size()});
            {
                py::gil_scoped_release nogil;
                descriptor_forward(d, v, G.mutable_data());
            }
            return G;
        }, py::arg("batch"), "G [n_atoms, size]")
        .def("backward", [](const D& d, const PyBatch& b, CArray<double> dEdG) {
            const FrameBatch v = b.view();
            if (dEdG.size() != v.n_atoms() * d.size()) throw std::invalid_argument("dE/dG must be [n_atoms, size]");
            py::array_t<double> F({v.n_atoms(), int64_t(3)}), W({v.n_frames, int64_t(6)});
            {
                py::gil_scoped_release nogil;
                descriptor_backward(d, v, dEdG.data(), F.mutable_data(), W.mutable_data());
            }
            return py::make_tuple(F, W);
        }, py::arg("batch"), py::arg("dEdG"), "forces [n_atoms, 3] = -dE/dr and virial [n_frames, 6] (Voigt, eV) of E = sum dEdG . G")
        .def("tangent", [](const D& d, const PyBatch& b, CArray<double> vec) {
            const FrameBatch v = b.view();
            if (vec.size() != 3 * v.n_atoms()) throw std::invalid_argument("v must be [n_atoms, 3]");
            py::array_t<double> dG({v.n_atoms(), d.size()});
            {
                py::gil_scoped_release nogil;
                descriptor_tangent(d, v, vec.data(), dG.mutable_data());
            }
            return dG;
        }, py::arg("batch"), py::arg("v"), "dG [n_atoms, size] = (dG/dr) v");
}

}  // namespace ldrx
