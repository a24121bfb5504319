// image_dataset_from_directory and Keras' directory indexing (keras/src/utils/
// image_dataset_utils.py and dataset_utils.py), reproduced step by step.
#include "leantrain/data/directory_dataset.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <random>
#include <set>

#include "dataset_internal.h"
#include "leantrain/data/numpy_random.h"
#include "leantrain/data/sources.h"

namespace leantrain::data {
namespace {

namespace fs = std::filesystem;
using leantrain::internal::str_cat;

// Python's os.path.join for two parts.
std::string path_join(const std::string& a, const std::string& b) {
  if (!b.empty() && b.front() == '/') return b;
  if (a.empty() || a.back() == '/') return a + b;
  return a + "/" + b;
}

// Python's os.path.basename: the part after the last '/'.
std::string base_name(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return s;
}

bool has_allowed_suffix(const std::string& name, const std::vector<std::string>& formats) {
  const std::string l = lower(name);
  for (const std::string& f : formats) {
    if (l.size() >= f.size() && l.compare(l.size() - f.size(), f.size(), f) == 0) return true;
  }
  return false;
}

// Keras prints ALLOWLIST_FORMATS as a Python tuple.
std::string formats_text(const std::vector<std::string>& formats) {
  std::string out = "(";
  for (size_t i = 0; i < formats.size(); ++i) out += (i ? ", '" : "'") + formats[i] + "'";
  return out + ")";
}

std::string names_text(const std::vector<std::string>& names) {
  std::string out = "[";
  for (size_t i = 0; i < names.size(); ++i) out += (i ? ", '" : "'") + names[i] + "'";
  return out + "]";
}

std::ostream& output(std::ostream* out) { return out != nullptr ? *out : std::cout; }

// The (root, files) pairs os.walk(top, followlinks) yields: entries that are directories
// (following symlinks) are walked into unless they are symlinks and follow_links is false;
// every other entry is a file. A directory reached twice through links is walked once.
void walk(const std::string& root, bool follow_links, std::set<std::pair<dev_t, ino_t>>& seen,
          std::vector<std::pair<std::string, std::vector<std::string>>>& out) {
  struct stat st {};
  if (::stat(root.c_str(), &st) == 0 && !seen.insert({st.st_dev, st.st_ino}).second) return;
  std::error_code ec;
  fs::directory_iterator it(root, ec);
  LT_CHECK(!ec, kIo, root, ": cannot list the directory: ", ec.message());
  std::vector<std::string> files, dirs;
  for (const fs::directory_entry& entry : it) {
    const std::string name = entry.path().filename().string();
    std::error_code type_ec;
    if (entry.is_directory(type_ec)) {
      if (follow_links || !entry.is_symlink(type_ec)) dirs.push_back(name);
    } else {
      files.push_back(name);
    }
  }
  out.emplace_back(root, std::move(files));
  for (const std::string& d : dirs) walk(path_join(root, d), follow_links, seen, out);
}

// dataset_utils.index_subdirectory: the relative paths of the allowed files under `dir`,
// roots in sorted order, files sorted within each root.
std::vector<std::string> index_subdirectory(const std::string& dir, bool follow_links,
                                            const std::vector<std::string>& formats) {
  std::set<std::pair<dev_t, ino_t>> seen;
  std::vector<std::pair<std::string, std::vector<std::string>>> roots;
  walk(dir, follow_links, seen, roots);
  std::sort(roots.begin(), roots.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  const std::string dirname = base_name(dir);
  std::vector<std::string> relative;
  for (auto& [root, files] : roots) {
    std::sort(files.begin(), files.end());
    // os.path.relpath(join(root, fname), dir): root extends dir by "/sub/dirs" (or not at all).
    std::string sub = root.substr(std::min(root.size(), dir.size()));
    while (!sub.empty() && sub.front() == '/') sub.erase(sub.begin());
    for (const std::string& fname : files) {
      if (!has_allowed_suffix(fname, formats)) continue;
      relative.push_back(path_join(dirname, sub.empty() ? fname : path_join(sub, fname)));
    }
  }
  return relative;
}

uint32_t numpy_seed(std::optional<uint64_t> seed) {
  if (!seed) {
    std::random_device device;
    return device() % 1000000;  // np.random.randint(1e6)
  }
  LT_CHECK(*seed <= 0xffffffffull, kInvalidArgument,
           "seed must be between 0 and 2**32 - 1 "
           "(NumPy's RandomState shuffles the files), got ",
           *seed);
  return static_cast<uint32_t>(*seed);
}

// dataset_utils.check_validation_split_arg. validation_split 0 counts as not set (Python's
// truthiness).
void check_validation_split(std::optional<double> split, const std::string& subset, bool shuffle,
                            bool has_seed) {
  const bool split_set = split.has_value() && *split != 0.0;
  LT_CHECK(!split_set || (*split > 0 && *split < 1), kInvalidArgument,
           "`validation_split` must be between 0 and 1, received: ", *split);
  LT_CHECK(split_set == !subset.empty(), kInvalidArgument,
           "If `subset` is set, `validation_split` must be set, and inversely.");
  LT_CHECK(subset.empty() || subset == "training" || subset == "validation" || subset == "both",
           kInvalidArgument,
           "`subset` must be either \"training\", \"validation\" or \"both\", "
           "received: ",
           subset);
  LT_CHECK(!(split_set && shuffle && !has_seed), kInvalidArgument,
           "If using `validation_split` and shuffling the data, you must provide a `seed` "
           "argument, to make sure that there is no overlap between the training and "
           "validation subset.");
}

struct Checked {
  int64_t channels = 3;
  std::string label_mode;  // "" for none
  uint32_t seed = 0;
};

Checked check_options(const ImageDirectoryOptions& o) {
  Checked c;
  LT_CHECK(o.labels == "inferred" || o.labels == "none" || o.labels == "list", kInvalidArgument,
           "`labels` must be \"inferred\", \"none\" or \"list\" (with label_list), received: ",
           o.labels);
  LT_CHECK(o.label_mode == "int" || o.label_mode == "categorical" || o.label_mode == "binary" ||
               o.label_mode == "none",
           kInvalidArgument,
           "`label_mode` argument must be one of \"int\", \"categorical\", \"binary\", or "
           "\"none\". Received: label_mode=",
           o.label_mode);
  LT_CHECK(o.class_names.empty() || o.labels == "inferred", kInvalidArgument,
           "You can only pass `class_names` if `labels=\"inferred\"`. Received: labels=", o.labels);
  c.label_mode = (o.labels == "none" || o.label_mode == "none") ? "" : o.label_mode;
  c.channels = image_channels(o.color_mode);
  LT_CHECK(o.image_size[0] > 0 && o.image_size[1] > 0, kInvalidArgument,
           "Invalid `image_size` value. Expected a tuple of 2 positive integers. Received: "
           "image_size=(",
           o.image_size[0], ", ", o.image_size[1], ")");
  LT_CHECK(o.batch_size >= 0, kInvalidArgument, "batch_size must be >= 0 (0: unbatched), got ",
           o.batch_size);
  check_validation_split(o.validation_split, o.subset, o.shuffle, o.seed.has_value());
  c.seed = numpy_seed(o.seed);
  return c;
}

// paths_and_labels_to_dataset + batch + prefetch.
ImageDirectoryDataset build(const DirectoryIndex& index, const ImageDirectoryOptions& o,
                            const Checked& c, int64_t num_classes, bool shuffle) {
  const auto n = static_cast<int64_t>(index.file_paths.size());
  Element columns;
  columns.set_strings("path", index.file_paths);
  if (!c.label_mode.empty()) columns.set("label", Tensor::from_vector(index.labels, Shape{n}));
  Dataset ds = Dataset::from_tensor_slices(columns);
  if (shuffle) ds = ds.shuffle(o.batch_size > 0 ? o.batch_size * 8 : 1024, c.seed);

  ImageLoadOptions load;
  load.color_mode = o.color_mode;
  load.image_size = o.image_size;
  load.interpolation = o.interpolation;
  load.crop_to_aspect_ratio = o.crop_to_aspect_ratio;
  load.dct_scaling = o.dct_scaling;
  const MapFn load_fn = load_image(load);
  const std::string mode = c.label_mode;
  int64_t label_bytes = 0;
  if (mode == "int" || mode == "binary") label_bytes = 4;
  if (mode == "categorical") label_bytes = 4 * num_classes;
  ds = ds.map(
      [load_fn, mode, num_classes](Element e, const ElementContext& ctx) {
        e = load_fn(std::move(e), ctx);
        if (mode == "categorical") {
          const int32_t label = e.at("label").as<int32_t>()[0];
          std::vector<float> one_hot(static_cast<size_t>(num_classes), 0.0f);
          // tf.one_hot leaves a label outside [0, num_classes) all zeros.
          if (label >= 0 && label < num_classes) one_hot[static_cast<size_t>(label)] = 1.0f;
          e.set("label", Tensor::from_vector(one_hot, Shape{num_classes}));
        } else if (mode == "binary") {
          const auto label = static_cast<float>(e.at("label").as<int32_t>()[0]);
          e.set("label", Tensor::from_vector(std::vector<float>{label}, Shape{1}));
        }
        return e;
      },
      {.num_parallel_calls = o.num_parallel_calls,
       .deterministic = true,
       .on_error = o.on_error,
       .seed = c.seed,
       .max_output_bytes = image_tensor_bytes(load) + label_bytes});
  if (o.batch_size > 0) ds = ds.batch(o.batch_size);
  ds = ds.prefetch(kAutotune);
  return ImageDirectoryDataset{ds, index.class_names, index.file_paths, index.labels};
}

}  // namespace

DirectoryIndex index_directory(const std::string& directory, const IndexOptions& options) {
  std::error_code ec;
  LT_CHECK(fs::exists(directory, ec), kNotFound, directory, ": no such directory");
  LT_CHECK(fs::is_directory(directory, ec), kInvalidArgument, directory,
           ": is not a directory; image_dataset_from_directory needs a directory of class "
           "subdirectories");
  LT_CHECK(options.labels == "inferred" || options.labels == "none" || options.labels == "list",
           kInvalidArgument, "labels must be \"inferred\", \"none\" or \"list\", got \"",
           options.labels, "\"");
  std::vector<std::string> subdirs;
  if (options.labels == "inferred") {
    std::vector<std::string> names;
    fs::directory_iterator it(directory, ec);
    LT_CHECK(!ec, kIo, directory, ": cannot list the directory: ", ec.message());
    for (const fs::directory_entry& entry : it) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      std::error_code type_ec;
      if (fs::is_directory(path_join(directory, name), type_ec) && name.front() != '.') {
        subdirs.push_back(name);
      }
    }
    if (!options.class_names.empty()) {
      for (const std::string& name : options.class_names) {
        LT_CHECK(std::find(subdirs.begin(), subdirs.end(), name) != subdirs.end(), kInvalidArgument,
                 "The `class_names` passed did not match the names of the subdirectories of "
                 "the target directory. Expected: ",
                 names_text(subdirs), " (or a subset of it), but received: class_names=",
                 names_text(options.class_names));
      }
      subdirs = options.class_names;  // keep the given order
    }
  } else {
    LT_CHECK(options.class_names.empty(), kInvalidArgument,
             options.labels == "none"
                 ? "When `labels=None` (no labels), argument `class_names` cannot be specified."
                 : "When argument `labels` is specified, argument `class_names` cannot be "
                   "specified (the `class_names` will be the sorted list of labels).");
    subdirs = {""};
  }

  DirectoryIndex index;
  std::vector<std::string> relative;
  for (size_t label = 0; label < subdirs.size(); ++label) {
    std::vector<std::string> files = index_subdirectory(path_join(directory, subdirs[label]),
                                                        options.follow_links, options.formats);
    for (std::string& f : files) {
      relative.push_back(std::move(f));
      index.labels.push_back(static_cast<int32_t>(label));
    }
  }
  const auto n = relative.size();
  if (options.labels == "inferred") {
    index.class_names = subdirs;
  } else if (options.labels == "none") {
    index.labels.clear();
  } else {
    LT_CHECK(options.label_list.size() == n, kInvalidArgument,
             "Expected the lengths of `labels` to match the number of files in the target "
             "directory. len(labels) is ",
             options.label_list.size(), " while we found ", n, " files in directory ", directory,
             ".");
    index.labels = options.label_list;
    std::set<int32_t> distinct(index.labels.begin(), index.labels.end());
    for (int32_t v : distinct) index.class_names.push_back(std::to_string(v));
  }
  if (options.verbose) {
    if (options.labels == "none") {
      output(options.out) << "Found " << n << " files." << std::endl;
    } else {
      output(options.out) << "Found " << n << " files belonging to " << index.class_names.size()
                          << " classes." << std::endl;
    }
  }
  for (const std::string& r : relative) index.file_paths.push_back(path_join(directory, r));
  if (options.shuffle) {
    // Keras shuffles the paths with RandomState(seed), then the labels with a fresh
    // RandomState(seed): the same permutation.
    const uint32_t seed = numpy_seed(options.seed);
    NumpyRandomState(seed).shuffle(index.file_paths);
    if (!index.labels.empty()) NumpyRandomState(seed).shuffle(index.labels);
  }
  return index;
}

DirectoryIndex training_or_validation_split(const DirectoryIndex& index,
                                            std::optional<double> validation_split,
                                            const std::string& subset, bool verbose,
                                            std::ostream* out) {
  if (!validation_split || *validation_split == 0.0) return index;
  const auto n = static_cast<int64_t>(index.file_paths.size());
  const auto num_val = static_cast<int64_t>(*validation_split * static_cast<double>(n));
  LT_CHECK(subset == "training" || subset == "validation", kInvalidArgument,
           "`subset` must be either \"training\" or \"validation\", received: ", subset);
  LT_CHECK(num_val > 0, kInvalidArgument, "validation_split ", *validation_split, " of ", n,
           " files gives int(", *validation_split, " * ", n,
           ") = 0 validation files (Keras would then use ",
           subset == "training" ? "no files for training" : "every file for validation",
           "); use a larger validation_split or more files");
  DirectoryIndex part;
  part.class_names = index.class_names;
  const int64_t first = subset == "training" ? 0 : n - num_val;
  const int64_t last = subset == "training" ? n - num_val : n;
  part.file_paths.assign(index.file_paths.begin() + first, index.file_paths.begin() + last);
  if (!index.labels.empty()) {
    part.labels.assign(index.labels.begin() + first, index.labels.begin() + last);
  }
  if (verbose) {
    if (subset == "training") {
      output(out) << "Using " << n - num_val << " files for training." << std::endl;
    } else {
      output(out) << "Using " << num_val << " files for validation." << std::endl;
    }
  }
  return part;
}

namespace {

DirectoryIndex index_for(const std::string& directory, const ImageDirectoryOptions& o,
                         const Checked& c) {
  IndexOptions io;
  io.labels = o.labels;
  io.label_list = o.label_list;
  io.class_names = o.class_names;
  io.shuffle = o.shuffle;
  io.seed = c.seed;
  io.follow_links = o.follow_links;
  io.verbose = o.verbose;
  io.out = o.out;
  DirectoryIndex index = index_directory(directory, io);
  LT_CHECK(!(c.label_mode == "binary" && index.class_names.size() != 2), kInvalidArgument,
           "When passing `label_mode=\"binary\"`, there must be exactly 2 class_names. "
           "Received: class_names=",
           names_text(index.class_names));
  if (c.label_mode.empty()) index.labels.clear();
  return index;
}

}  // namespace

ImageDirectoryDataset image_dataset_from_directory(const std::string& directory,
                                                   const ImageDirectoryOptions& options) {
  LT_CHECK(options.subset != "both", kInvalidArgument,
           "subset \"both\" returns two datasets: call image_dataset_split_from_directory");
  const Checked c = check_options(options);
  const DirectoryIndex index = index_for(directory, options, c);
  const DirectoryIndex part = training_or_validation_split(
      index, options.validation_split, options.subset, options.verbose, options.out);
  LT_CHECK(!part.file_paths.empty(), kInvalidArgument, "No images found in directory ", directory,
           ". Allowed formats: ", formats_text(kImageExtensions));
  return build(part, options, c, static_cast<int64_t>(index.class_names.size()), options.shuffle);
}

std::pair<ImageDirectoryDataset, ImageDirectoryDataset> image_dataset_split_from_directory(
    const std::string& directory, const ImageDirectoryOptions& options) {
  LT_CHECK(options.subset == "both", kInvalidArgument,
           "image_dataset_split_from_directory needs subset \"both\", got \"", options.subset,
           "\"");
  const Checked c = check_options(options);
  const DirectoryIndex index = index_for(directory, options, c);
  const DirectoryIndex train = training_or_validation_split(
      index, options.validation_split, "training", options.verbose, options.out);
  const DirectoryIndex val = training_or_validation_split(
      index, options.validation_split, "validation", options.verbose, options.out);
  LT_CHECK(!train.file_paths.empty(), kInvalidArgument, "No training images found in directory ",
           directory, ". Allowed formats: ", formats_text(kImageExtensions));
  LT_CHECK(!val.file_paths.empty(), kInvalidArgument, "No validation images found in directory ",
           directory, ". Allowed formats: ", formats_text(kImageExtensions));
  const auto classes = static_cast<int64_t>(index.class_names.size());
  return {build(train, options, c, classes, options.shuffle),
          build(val, options, c, classes, /*shuffle=*/false)};
}

}  // namespace leantrain::data
