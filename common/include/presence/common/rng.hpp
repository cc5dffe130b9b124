#pragma once
// The project's one seeded random generator: xoshiro256** seeded through splitmix64, header-only.
// std distributions differ between standard libraries, so a seed must mean the same run
// everywhere: the simulation, the wire layer's randomised tests, the load generator and
// presencectl simulate all draw from this.

#include <cstddef>
#include <cstdint>

namespace presence::common {

// A small deterministic generator; every random choice of a seeded run comes from one of these.
class rng {
  public:
    explicit rng(std::uint64_t seed) {
        for (auto& word : s_) word = splitmix(seed);
    }

    // The next 64 random bits.
    std::uint64_t next() {
        const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    // A value in [lo, hi], both inclusive; the tiny modulo bias does not matter here.
    std::int64_t between(std::int64_t lo, std::int64_t hi) {
        const auto span = static_cast<std::uint64_t>(hi - lo) + 1;
        return lo + static_cast<std::int64_t>(span == 0 ? next() : next() % span);
    }

    // An index in [0, n); n must be positive.
    std::size_t index(std::size_t n) { return static_cast<std::size_t>(next() % n); }

    // True with probability percent/100.
    bool chance(unsigned percent) { return next() % 100 < percent; }

    // True or false, even odds.
    bool coin() { return (next() & 1U) != 0; }

    // A double in [0, 1) with 53 random bits.
    double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

    // Mixes a seed into a well-spread 64-bit value, also used to derive per-seed settings.
    static std::uint64_t splitmix(std::uint64_t& state) {
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }

  private:
    static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

    std::uint64_t s_[4]{};
};

}  // namespace presence::common
