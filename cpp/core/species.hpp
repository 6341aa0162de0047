// Map from atomic number to a model's species index (its position in the species list).
#pragma once

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/frames.hpp"

namespace ldrx {

class SpeciesMap {
public:
    SpeciesMap() { table_.fill(-1); }
    explicit SpeciesMap(const std::vector<int>& numbers) : numbers_(numbers) {
        table_.fill(-1);
        if (numbers.empty()) throw std::invalid_argument("the species list is empty");
        for (size_t s = 0; s < numbers.size(); ++s) {
            const int z = numbers[s];
            if (z < 1 || z >= kMaxZ) throw std::invalid_argument("invalid atomic number " + std::to_string(z));
            if (table_[z] >= 0) throw std::invalid_argument("atomic number " + std::to_string(z) + " listed twice");
            table_[z] = static_cast<int>(s);
        }
    }
    int size() const { return static_cast<int>(numbers_.size()); }
    const std::vector<int>& numbers() const { return numbers_; }
    // species index of atomic number z, or -1
    int find(int z) const { return (z >= 0 && z < kMaxZ) ? table_[z] : -1; }
    int operator()(int z) const {
        const int s = find(z);
        if (s < 0) throw std::invalid_argument("atomic number " + std::to_string(z) + " is not one of the model's species");
        return s;
    }
    // Throws naming the first atom of the batch whose species is unknown.
    void check(const FrameBatch& b) const {
        for (int64_t f = 0; f < b.n_frames; ++f)
            for (int64_t a = b.offsets[f]; a < b.offsets[f + 1]; ++a)
                if (find(b.numbers[a]) < 0)
                    throw std::invalid_argument("frame " + std::to_string(f) + ", atom " +
                                                std::to_string(a - b.offsets[f]) + ": atomic number " +
                                                std::to_string(b.numbers[a]) + " is not one of the model's species");
    }

private:
    static constexpr int kMaxZ = 128;
    std::vector<int> numbers_;
    std::array<int, kMaxZ> table_;
};

}  // namespace ldrx
