// pybind11 glue shared by the binding files: frame batches from numpy arrays, and the generic binding
// of a Descriptor (forward / backward / tangent over a batch, GIL released).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "core/frames.hpp"
#include "descriptors/descriptor.hpp"

namespace ldrx {
namespace py = pybind11;

template <class T>
using CArray = py::array_t<T, py::array::c_style | py::array::forcecast>;

// ---------------------------------------------------------------------------------------------------
// Checks of every array that crosses into C++. A shape is one entry per dimension, kAny for any size.
// Inputs (read only) may be converted to the C++ dtype and layout (a copy), but only without loss: an
// integer input refuses floats, a real input refuses complex. Arrays that C++ writes in place are never
// converted (a converted copy would take the result and be thrown away): they must already be float64,
// C-contiguous and writeable, and bindings take them as py::array with py::arg(...).noconvert().

constexpr int64_t kAny = -1;
using Shape = std::vector<int64_t>;

inline std::string shape_string(const Shape& s) {
    std::string out = "(";
    for (size_t k = 0; k < s.size(); ++k) out += (k ? ", " : "") + (s[k] < 0 ? std::string("*") : std::to_string(s[k]));
    return out + (s.size() == 1 ? ",)" : ")");
}

inline Shape shape_of(const py::array& a) { return Shape(a.shape(), a.shape() + a.ndim()); }

// Throws invalid_argument "<name> must have shape (3, 44) [n_atoms, size], got (44, 3)" unless `a` has
// exactly len(shape) dimensions of the given sizes. `dims` names the dimensions, for the message.
inline void check_shape(const py::array& a, const std::string& name, const Shape& shape, const std::string& dims = "") {
    bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
    for (size_t k = 0; ok && k < shape.size(); ++k) ok = shape[k] < 0 || a.shape(k) == shape[k];
    if (!ok)
        throw std::invalid_argument(name + " must have shape " + shape_string(shape) + (dims.empty() ? "" : " " + dims) +
                                    ", got " + shape_string(shape_of(a)));
}

// A read-only input as a C-contiguous array of T with the given shape (converted if needed).
template <class T>
CArray<T> input_array(const py::handle& obj, const std::string& name, const Shape& shape, const std::string& dims = "") {
    if (obj.is_none()) throw std::invalid_argument(name + " is required (got None)");
    py::array a = py::array::ensure(obj);
    if (!a) throw std::invalid_argument(name + " must be an array");
    const char kind = a.dtype().kind();
    std::string ok = std::is_integral<T>::value ? (std::is_same<T, uint8_t>::value ? "biu" : "iu") : "biuf";
    if (ok.find(kind) == std::string::npos)
        throw std::invalid_argument(name + " must hold " + (std::is_integral<T>::value ? "integers" : "real numbers") +
                                    ", got dtype " + std::string(py::str(a.dtype())));
    check_shape(a, name, shape, dims);
    if (std::is_integral<T>::value && a.dtype().itemsize() > static_cast<py::ssize_t>(sizeof(T)) && a.size() > 0) {
        // narrowing (e.g. int64 -> int32): refuse values that would wrap
        py::array_t<int64_t, py::array::forcecast> wide = py::array_t<int64_t, py::array::forcecast>::ensure(a);
        const int64_t* v = wide.data();
        for (py::ssize_t k = 0; k < wide.size(); ++k)
            if (v[k] < static_cast<int64_t>(std::numeric_limits<T>::min()) || v[k] > static_cast<int64_t>(std::numeric_limits<T>::max()))
                throw std::invalid_argument(name + ": value " + std::to_string(v[k]) + " does not fit the C++ type");
    }
    CArray<T> out = CArray<T>::ensure(a);
    if (!out) throw std::invalid_argument(name + ": cannot convert to the C++ dtype");
    return out;
}

// An array that C++ writes in place: float64, C-contiguous, writeable, the given shape; never converted.
inline double* inout_array(py::array& a, const std::string& name, const Shape& shape, const std::string& dims = "") {
    if (a.dtype().kind() != 'f' || a.dtype().itemsize() != 8)
        throw std::invalid_argument(name + " is written in place and must be float64, got dtype " +
                                    std::string(py::str(a.dtype())) + " (a converted copy would receive the result)");
    if (!(a.flags() & py::array::c_style))
        throw std::invalid_argument(name + " is written in place and must be C-contiguous (got a strided or "
                                    "Fortran-order array; a converted copy would receive the result)");
    if (!a.writeable()) throw std::invalid_argument(name + " is written in place and must be writeable");
    check_shape(a, name, shape, dims);
    return static_cast<double*>(a.mutable_data());
}

// Frame offsets [n_frames + 1]: start at 0, never decrease; returns the number of atoms (the last entry).
inline int64_t check_offsets(const CArray<int64_t>& offsets, const std::string& name = "offsets") {
    if (offsets.ndim() != 1 || offsets.size() < 1)
        throw std::invalid_argument(name + " must be a 1-d array of n_frames + 1 entries");
    const int64_t* o = offsets.data();
    const int64_t nf = offsets.size() - 1;
    if (o[0] != 0) throw std::invalid_argument(name + "[0] must be 0, got " + std::to_string(o[0]));
    for (int64_t f = 0; f < nf; ++f)
        if (o[f + 1] < o[f])
            throw std::invalid_argument(name + " must never decrease: " + name + "[" + std::to_string(f + 1) + "] = " +
                                        std::to_string(o[f + 1]) + " < " + name + "[" + std::to_string(f) + "] = " +
                                        std::to_string(o[f]));
    return o[nf];
}

// Owns references to the numpy arrays of a batch (converted to the right dtype and layout if needed)
// and exposes the FrameBatch view of them.
struct PyBatch {
    CArray<int32_t> numbers;
    CArray<double> positions;
    CArray<double> cells;
    CArray<uint8_t> pbc;
    CArray<int64_t> offsets;

    PyBatch(const py::object& z, const py::object& r, const py::object& c, const py::object& p, const py::object& o) {
        offsets = input_array<int64_t>(o, "offsets", {kAny}, "[n_frames + 1]");
        const int64_t na = check_offsets(offsets);
        const int64_t nf = offsets.size() - 1;
        numbers = input_array<int32_t>(z, "numbers", {na}, "[n_atoms]");
        positions = input_array<double>(r, "positions", {na, 3}, "[n_atoms, 3]");
        cells = input_array<double>(c, "cells", {nf, 3, 3}, "[n_frames, 3, 3]");
        pbc = input_array<uint8_t>(p, "pbc", {nf, 3}, "[n_frames, 3]");
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
        .def(py::init<const py::object&, const py::object&, const py::object&, const py::object&, const py::object&>(),
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
        .def("backward", [](const D& d, const PyBatch& b, const py::object& dEdG_) {
            const FrameBatch v = b.view();
            const auto dEdG = input_array<double>(dEdG_, "dEdG", {v.n_atoms(), d.size()}, "[n_atoms, size]");
            py::array_t<double> F({v.n_atoms(), int64_t(3)}), W({v.n_frames, int64_t(6)});
            {
                py::gil_scoped_release nogil;
                descriptor_backward(d, v, dEdG.data(), F.mutable_data(), W.mutable_data());
            }
            return py::make_tuple(F, W);
        }, py::arg("batch"), py::arg("dEdG"), "forces [n_atoms, 3] = -dE/dr and virial [n_frames, 6] (Voigt, eV) of E = sum dEdG . G")
        .def("tangent", [](const D& d, const PyBatch& b, const py::object& vec_) {
            const FrameBatch v = b.view();
            const auto vec = input_array<double>(vec_, "v", {v.n_atoms(), 3}, "[n_atoms, 3]");
            py::array_t<double> dG({v.n_atoms(), d.size()});
            {
                py::gil_scoped_release nogil;
                descriptor_tangent(d, v, vec.data(), dG.mutable_data());
            }
            return dG;
        }, py::arg("batch"), py::arg("v"), "dG [n_atoms, size] = (dG/dr) v");
}

}  // namespace ldrx
