#include "leantrain/data/numpy_random.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

namespace leantrain::data {
namespace {

std::vector<int> shuffled_range(uint32_t seed, int n) {
  std::vector<int> x(static_cast<size_t>(n));
  std::iota(x.begin(), x.end(), 0);
  NumpyRandomState(seed).shuffle(x);
  return x;
}

// Oracle: NumPy 1.24.2 (Debian 12 python3-numpy), computed once with
//   python3 -c "import numpy as np
//   for s in (0, 1, 42, 1337, 4294967295):
//       x = list(range(10)); np.random.RandomState(s).shuffle(x); print(s, x)"
TEST(NumpyRandomStateTest, ShuffleOfTenMatchesNumpyForSeveralSeeds) {
  EXPECT_EQ(shuffled_range(0, 10), (std::vector<int>{2, 8, 4, 9, 1, 6, 7, 3, 0, 5}));
  EXPECT_EQ(shuffled_range(1, 10), (std::vector<int>{2, 9, 6, 4, 0, 3, 1, 7, 8, 5}));
  EXPECT_EQ(shuffled_range(42, 10), (std::vector<int>{8, 1, 5, 0, 7, 2, 9, 4, 3, 6}));
  EXPECT_EQ(shuffled_range(1337, 10), (std::vector<int>{6, 3, 0, 4, 5, 2, 1, 9, 8, 7}));
  EXPECT_EQ(shuffled_range(4294967295u, 10), (std::vector<int>{6, 9, 5, 1, 8, 0, 7, 4, 2, 3}));
}

// Oracle: python3 -c "import numpy as np; x = list(range(1000));
//   np.random.RandomState(7).shuffle(x); print(x[:8], x[-5:])"
TEST(NumpyRandomStateTest, ShuffleOfThousandMatchesNumpyAtBothEnds) {
  const std::vector<int> x = shuffled_range(7, 1000);
  EXPECT_EQ(std::vector<int>(x.begin(), x.begin() + 8),
            (std::vector<int>{778, 334, 271, 802, 216, 408, 812, 94}));
  EXPECT_EQ(std::vector<int>(x.end() - 5, x.end()), (std::vector<int>{579, 502, 537, 196, 175}));
}

// Oracle: python3 -c "import numpy as np; print(np.random.RandomState(42).randint(0, 2**32,
//   size=3, dtype=np.uint64))" (a full 32-bit range is the raw word stream).
TEST(NumpyRandomStateTest, RawWordsMatchNumpy) {
  NumpyRandomState rs(42);
  EXPECT_EQ(rs.next_uint32(), 1608637542u);
  EXPECT_EQ(rs.next_uint32(), 3421126067u);
  EXPECT_EQ(rs.next_uint32(), 4083286876u);
}

TEST(NumpyRandomStateTest, RandomIntervalStaysInRangeAndCoversIt) {
  NumpyRandomState rs(3);
  std::vector<int> seen(6, 0);
  for (int i = 0; i < 600; ++i) {
    const uint64_t v = rs.random_interval(5);
    ASSERT_LE(v, 5u);
    ++seen[v];
  }
  for (int count : seen) EXPECT_GT(count, 50);
  EXPECT_EQ(rs.random_interval(0), 0u);
}

TEST(NumpyRandomStateTest, ShufflesStringsWithTheSamePermutationAsIndices) {
  std::vector<std::string> names;
  for (int i = 0; i < 10; ++i) names.push_back("f" + std::to_string(i));
  NumpyRandomState(42).shuffle(names);
  const std::vector<int> order = shuffled_range(42, 10);
  for (size_t i = 0; i < names.size(); ++i) EXPECT_EQ(names[i], "f" + std::to_string(order[i]));
}

TEST(NumpyRandomStateTest, EmptyAndSingleListsAreUnchanged) {
  std::vector<int> empty;
  NumpyRandomState(1).shuffle(empty);
  EXPECT_TRUE(empty.empty());
  std::vector<int> one{5};
  NumpyRandomState(1).shuffle(one);
  EXPECT_EQ(one, std::vector<int>{5});
}

}  // namespace
}  // namespace leantrain::data
