// NumPy's legacy np.random.RandomState, as far as Keras uses it to shuffle file lists, so that
// image_dataset_from_directory puts files in the same order as Keras for the same seed.
#pragma once

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace leantrain::data {

// The bit stream and the shuffle of `np.random.RandomState(seed)`:
// - RandomState(seed) with an integer seed calls mt19937_seed, which is Matsumoto and Nishimura's
//   init_genrand (key[0] = seed, key[i] = 1812433253 * (key[i-1] ^ (key[i-1] >> 30)) + i):
//   exactly std::mt19937's seeding, whose tempered 32-bit outputs are NumPy's next_uint32.
// - shuffle(x) runs, for i = n-1 down to 1, j = random_interval(i) and swaps x[i] and x[j]
//   (the same for Python lists and 1-D arrays).
// - random_interval(max) draws 32-bit words (64-bit words, high word first, when max does not
//   fit in 32 bits), masks them with the smallest all-ones mask >= max and rejects values > max.
// Deterministic for a seed on every platform. Not thread-safe: one generator per thread.
class NumpyRandomState {
 public:
  explicit NumpyRandomState(uint32_t seed) : mt_(seed) {}

  // Returns the next tempered MT19937 word (NumPy's next_uint32).
  uint32_t next_uint32() { return static_cast<uint32_t>(mt_()); }

  // Returns a uniform integer in [0, max] (NumPy's random_interval); 0 when max is 0.
  uint64_t random_interval(uint64_t max);

  // Shuffles `x` in place exactly as RandomState.shuffle does. O(n).
  template <typename T>
  void shuffle(std::vector<T>& x) {
    for (size_t i = x.size() > 0 ? x.size() - 1 : 0; i > 0; --i) {
      const auto j = static_cast<size_t>(random_interval(i));
      std::swap(x[i], x[j]);
    }
  }

 private:
  std::mt19937 mt_;
};

}  // namespace leantrain::data
