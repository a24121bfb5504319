// Reads back what `leantrain predict` wrote, as a user of the files would, without leantrain's
// code: a CSV (header class_0,...; one row per image) and a .npy (NumPy format 1.0, '<f4',
// shape (rows, classes), C order). Checks that both hold `rows` rows of `classes` values, each
// row a probability distribution (values in [0, 1] summing to 1 within 1e-5), and that the two
// files hold the same floats. Prints "<rows> rows of <classes> probabilities" and exits 0, or
// names the first problem and exits 1.
// Usage: leantrain_predictions_check PREDS.csv PREDS.npy ROWS CLASSES
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

[[noreturn]] void fail(const std::string& message) {
  std::cerr << "predictions_check: " << message << "\n";
  std::exit(1);
}

std::vector<float> read_csv(const std::string& path, int64_t classes) {
  std::ifstream in(path);
  if (!in) fail(path + ": cannot open");
  std::string line;
  std::getline(in, line);
  std::string header;
  for (int64_t c = 0; c < classes; ++c) header += (c ? ",class_" : "class_") + std::to_string(c);
  if (line != header) fail(path + ": header '" + line + "', expected '" + header + "'");
  std::vector<float> values;
  int64_t row = 0;
  while (std::getline(in, line)) {
    std::stringstream fields(line);
    std::string field;
    int64_t n = 0;
    while (std::getline(fields, field, ',')) {
      values.push_back(std::strtof(field.c_str(), nullptr));
      ++n;
    }
    if (n != classes)
      fail(path + ": row " + std::to_string(row) + " has " + std::to_string(n) +
           " values, expected " + std::to_string(classes));
    ++row;
  }
  return values;
}

std::vector<float> read_npy(const std::string& path, int64_t rows, int64_t classes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path + ": cannot open");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < 10 || bytes.compare(0, 8, std::string("\x93NUMPY\x01\x00", 8)) != 0) {
    fail(path + ": not a version 1.0 .npy file");
  }
  const size_t length = static_cast<unsigned char>(bytes[8]) |
                        static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8;
  if ((10 + length) % 64 != 0) fail(path + ": header length not a multiple of 64");
  const std::string dict = bytes.substr(10, length);
  const std::string expected = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                               std::to_string(rows) + ", " + std::to_string(classes) + "), }";
  if (dict.compare(0, expected.size(), expected) != 0 || dict.back() != '\n') {
    fail(path + ": header '" + dict + "', expected '" + expected + "' padded to '\\n'");
  }
  const size_t data_bytes = bytes.size() - 10 - length;
  if (data_bytes != static_cast<size_t>(rows * classes) * 4) {
    fail(path + ": " + std::to_string(data_bytes) + " data bytes for shape (" +
         std::to_string(rows) + ", " + std::to_string(classes) + ")");
  }
  std::vector<float> values(static_cast<size_t>(rows * classes));
  std::memcpy(values.data(), bytes.data() + 10 + length, data_bytes);
  return values;
}

void check_distributions(const std::string& path, const std::vector<float>& v, int64_t rows,
                         int64_t classes) {
  if (static_cast<int64_t>(v.size()) != rows * classes) {
    fail(path + ": " + std::to_string(v.size() / static_cast<size_t>(classes)) +
         " rows, expected " + std::to_string(rows));
  }
  for (int64_t r = 0; r < rows; ++r) {
    double sum = 0;
    for (int64_t c = 0; c < classes; ++c) {
      const float p = v[static_cast<size_t>(r * classes + c)];
      if (!(p >= 0.0f && p <= 1.0f))
        fail(path + ": row " + std::to_string(r) + " holds " + std::to_string(p) +
             ", not a probability");
      sum += p;
    }
    if (std::fabs(sum - 1.0) > 1e-5) {
      fail(path + ": row " + std::to_string(r) + " sums to " + std::to_string(sum));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) fail("usage: leantrain_predictions_check PREDS.csv PREDS.npy ROWS CLASSES");
  const int64_t rows = std::atoll(argv[3]), classes = std::atoll(argv[4]);
  const std::vector<float> csv = read_csv(argv[1], classes);
  const std::vector<float> npy = read_npy(argv[2], rows, classes);
  check_distributions(argv[1], csv, rows, classes);
  check_distributions(argv[2], npy, rows, classes);
  for (size_t i = 0; i < csv.size(); ++i) {
    if (csv[i] != npy[i]) {
      fail("value " + std::to_string(i) + " differs: " + std::to_string(csv[i]) + " in the CSV, " +
           std::to_string(npy[i]) + " in the .npy");
    }
  }
  std::cout << rows << " rows of " << classes << " probabilities, each summing to 1; the CSV and "
            << "the .npy agree\n";
  return 0;
}
