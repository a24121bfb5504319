// File sources (IDX, CSV, TFRecord) and the image-loading map functions.
#include "leantrain/data/sources.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "dataset_internal.h"
#include "leantrain/data/image.h"
#include "leantrain/data/tfrecord.h"

namespace leantrain::data {
namespace {

using leantrain::internal::str_cat;

// ---- CSV ---------------------------------------------------------------------------------

struct CsvRow {
  std::vector<std::string> fields;
  int64_t line = 0;  // 1-based line where the row starts
};

// Splits CSV text into rows of fields (RFC 4180 quoting; \n or \r\n line ends; blank lines
// dropped). Throws kInvalidArgument for a quote left open at the end.
std::vector<CsvRow> parse_csv(const std::string& text, const std::string& path) {
  std::vector<CsvRow> rows;
  CsvRow row;
  std::string field;
  bool quoted = false, field_started = false;
  int64_t line = 1;
  row.line = 1;
  auto end_row = [&] {
    if (field_started || !row.fields.empty()) {
      row.fields.push_back(field);
      rows.push_back(row);
    }
    row = CsvRow{};
    field.clear();
    field_started = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"' && field.empty()) {
      quoted = true;
      field_started = true;
    } else if (c == ',') {
      row.fields.push_back(field);
      field.clear();
      field_started = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_row();
      ++line;
      row.line = line;
    } else {
      field += c;
      field_started = true;
    }
  }
  LT_CHECK(!quoted, kInvalidArgument, path, ":", row.line,
           ": a quoted field is not closed before the end of the file");
  end_row();
  return rows;
}

std::string trim(const std::string& s) {
  const size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

// Parses a whole integer; false for anything else.
bool parse_int(const std::string& text, int64_t& out) {
  const std::string t = trim(text);
  if (t.empty()) return false;
  const char* first = t.data() + (t[0] == '+' ? 1 : 0);
  const auto [end, ec] = std::from_chars(first, t.data() + t.size(), out);
  return ec == std::errc() && end == t.data() + t.size();
}

std::string read_text(const std::string& path) {
  std::error_code ec;
  LT_CHECK(std::filesystem::exists(path, ec), kNotFound, path, ": no such CSV file");
  LT_CHECK(!std::filesystem::is_directory(path, ec), kIo, path, ": is a directory, not a CSV file");
  std::ifstream in(path, std::ios::binary);
  LT_CHECK(in.good(), kIo, path, ": cannot open the CSV file");
  std::ostringstream text;
  text << in.rdbuf();
  LT_CHECK(!in.bad(), kIo, path, ": read failed");
  return text.str();
}

// ---- TFRecord ------------------------------------------------------------------------------

class TfRecordFileNode final : public internal::DatasetNode {
 public:
  explicit TfRecordFileNode(std::string path) : path_(std::move(path)) {}
  std::unique_ptr<internal::IteratorImpl> make_iterator(internal::PipelineContext&,
                                                        uint64_t) const override;
  int64_t cardinality() const override { return kUnknownCardinality; }
  int64_t max_element_bytes() const override { return -1; }
  std::string label() const override { return "TFRecord(" + path_ + ")"; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// One file's records, read one at a time; the file is opened at the first next().
class TfRecordFileIterator final : public internal::IteratorImpl {
 public:
  explicit TfRecordFileIterator(const std::string& path) : path_(path) {}
  std::optional<Element> next() override {
    if (!reader_) reader_ = std::make_unique<TfRecordReader>(path_);
    std::optional<std::vector<uint8_t>> record = reader_->next();
    if (!record) return std::nullopt;
    Element e;
    e.set("record", Tensor::from_vector(*record, Shape{static_cast<int64_t>(record->size())}));
    e.set_string("path", path_);
    return e;
  }

 private:
  std::string path_;
  std::unique_ptr<TfRecordReader> reader_;
};

std::unique_ptr<internal::IteratorImpl> TfRecordFileNode::make_iterator(internal::PipelineContext&,
                                                                        uint64_t) const {
  return std::make_unique<TfRecordFileIterator>(path_);
}

// ---- Images --------------------------------------------------------------------------------

DecodeResizeOptions decode_options(const ImageLoadOptions& o) {
  const int64_t channels = image_channels(o.color_mode);
  LT_CHECK(o.image_size[0] > 0 && o.image_size[1] > 0, kInvalidArgument,
           "image_size must be positive (height, width), got (", o.image_size[0], ", ",
           o.image_size[1], ")");
  static const char* kKerasOnly[] = {"bicubic", "lanczos3", "lanczos5", "gaussian",
                                     "mitchellcubic"};
  std::string name = o.interpolation;
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* keras : kKerasOnly) {
    LT_CHECK(name != keras, kUnimplemented, "interpolation '", o.interpolation,
             "' is a Keras method leantrain does not implement; use bilinear, area or nearest");
  }
  DecodeResizeOptions d;
  d.channels = channels == 1 ? 1 : 3;
  d.height = o.image_size[0];
  d.width = o.image_size[1];
  d.interpolation = parse_interpolation(name);
  d.antialias = o.antialias;
  d.crop = o.crop_to_aspect_ratio ? CropMode::kAspectRatio : CropMode::kNone;
  d.affine = PixelAffine::rescale(1.0f);
  d.fast_dct = o.fast_dct;
  d.dct_scaling = o.dct_scaling;
  return d;
}

// Decodes `bytes` into `image` ((height, width, channels) f32). rgba: RGB plus opaque alpha.
void decode_into(std::span<const uint8_t> bytes, const std::string& source,
                 const DecodeResizeOptions& d, int64_t channels, Tensor& image) {
  thread_local Image scratch;  // one decoded image per worker thread, reused
  float* dst = image.mutable_as<float>();
  if (channels != 4) {
    decode_resize_to_float(bytes, source, d, dst, scratch);
    return;
  }
  const ImageInfo info = read_image_info(bytes, source);
  LT_CHECK(!(info.format == ImageFormat::kPng && (info.channels == 2 || info.channels == 4)),
           kUnimplemented, source,
           ": a PNG with an alpha channel cannot be read as color_mode 'rgba' yet (its alpha "
           "would be lost); use color_mode 'rgb'");
  const int64_t pixels = d.height * d.width;
  thread_local std::vector<float> rgb;
  rgb.resize(static_cast<size_t>(pixels * 3));
  decode_resize_to_float(bytes, source, d, rgb.data(), scratch);
  for (int64_t p = 0; p < pixels; ++p) {
    std::copy_n(&rgb[static_cast<size_t>(p * 3)], 3, dst + p * 4);
    dst[p * 4 + 3] = 255.0f;
  }
}

template <typename T>
void flip_rows(T* data, int64_t height, int64_t width, int64_t channels) {
  for (int64_t y = 0; y < height; ++y) {
    T* row = data + y * width * channels;
    for (int64_t x = 0; x < width / 2; ++x) {
      for (int64_t c = 0; c < channels; ++c) {
        std::swap(row[x * channels + c], row[(width - 1 - x) * channels + c]);
      }
    }
  }
}

}  // namespace

// ---- IDX -----------------------------------------------------------------------------------

Dataset idx_dataset(const std::string& images_path, const std::string& labels_path) {
  return labeled_images_dataset(load_idx_images(images_path, labels_path));
}

Element scale_image_to_unit(Element e) {
  const Tensor& u8 = e.at("image");
  LT_CHECK(u8.dtype() == DType::kU8, kInvalidArgument, "scale_image_to_unit: \"image\" is ",
           dtype_name(u8.dtype()), "; it scales u8 images");
  Tensor f = Tensor::uninitialized(DType::kF32, u8.shape());
  const uint8_t* src = u8.as<uint8_t>();
  float* dst = f.mutable_as<float>();
  for (int64_t i = 0; i < u8.num_elements(); ++i) dst[i] = src[i] * (1.0f / 255.0f);
  e.set("image", std::move(f));
  return e;
}

Dataset labeled_images_dataset(LabeledImages images) {
  LT_CHECK(images.count >= 0 && static_cast<int64_t>(images.labels.size()) == images.count &&
               static_cast<int64_t>(images.pixels.size()) ==
                   images.count * images.height * images.width * images.channels,
           kInvalidArgument, "labeled images hold ", images.pixels.size(), " pixels and ",
           images.labels.size(), " labels, which do not match count ", images.count, " of ",
           images.height, "x", images.width, "x", images.channels);
  auto held = std::make_shared<const LabeledImages>(std::move(images));
  const LabeledImages& li = *held;
  Element columns;
  columns.set("image", Tensor::borrow(TensorView(const_cast<uint8_t*>(li.pixels.data()), DType::kU8,
                                                 Shape{li.count, li.height, li.width, li.channels}),
                                      held));
  columns.set(
      "label",
      Tensor::borrow(TensorView(const_cast<int32_t*>(li.labels.data()), Shape{li.count}), held));
  return Dataset::from_tensor_slices(columns);
}

TrainTest split_validation_tail(const LabeledImages& all, double fraction) {
  const auto held = static_cast<int64_t>(fraction * static_cast<double>(all.count));
  LT_CHECK(held > 0 && held < all.count, kInvalidArgument, "validation split ", fraction, " of ",
           all.count, " images holds out ", held,
           "; choose a fraction that leaves both parts non-empty");
  const int64_t pixels = all.height * all.width * all.channels;
  auto part = [&](int64_t begin, int64_t end) {
    LabeledImages p;  // the metadata of `all`, a slice of its pixels and labels
    p.height = all.height;
    p.width = all.width;
    p.channels = all.channels;
    p.num_classes = all.num_classes;
    p.count = end - begin;
    p.pixels.assign(all.pixels.begin() + begin * pixels, all.pixels.begin() + end * pixels);
    p.labels.assign(all.labels.begin() + begin, all.labels.begin() + end);
    return p;
  };
  return {.train = part(0, all.count - held), .test = part(all.count - held, all.count)};
}

Dataset randomly_flipped_images(const LabeledImages& images, int64_t batch_size, uint64_t seed,
                                int64_t num_parallel_calls) {
  return labeled_images_dataset(images)
      .shuffle(images.count, seed)
      .map(
          [](Element e, const ElementContext& ctx) {
            const Tensor& u8 = e.at("image");
            const Shape& s = u8.shape();
            Tensor f = Tensor::uninitialized(DType::kF32, s);
            const uint8_t* src = u8.as<uint8_t>();
            float* dst = f.mutable_as<float>();
            const bool flip = random_flip_decision(ctx.seed);
            const int64_t w = s[1], c = s[2];
            for (int64_t y = 0; y < s[0]; ++y) {
              for (int64_t x = 0; x < w; ++x) {
                const int64_t from = (y * w + (flip ? w - 1 - x : x)) * c;
                for (int64_t k = 0; k < c; ++k) {
                  dst[(y * w + x) * c + k] = src[from + k] * (1.0f / 255.0f);
                }
              }
            }
            e.set("image", std::move(f));
            return e;
          },
          {.num_parallel_calls = num_parallel_calls,
           .seed = seed,
           .max_output_bytes = images.height * images.width * images.channels * 4 + 4})
      .batch(batch_size)
      .prefetch(kAutotune);
}

// ---- CSV -----------------------------------------------------------------------------------

Dataset csv_dataset(const std::string& csv_path, const CsvOptions& options) {
  std::vector<CsvRow> rows = parse_csv(read_text(csv_path), csv_path);
  int64_t ignored;
  if (!rows.empty() && (rows[0].fields.size() < 2 || !parse_int(rows[0].fields[1], ignored))) {
    rows.erase(rows.begin());  // a header
  }
  const std::filesystem::path root = options.root.empty()
                                         ? std::filesystem::path(csv_path).parent_path()
                                         : std::filesystem::path(options.root);
  std::vector<std::string> paths, labels;
  std::vector<int32_t> lines;
  for (const CsvRow& row : rows) {
    const std::filesystem::path p(trim(row.fields[0]));
    paths.push_back(p.is_absolute() || root.empty() ? p.string() : (root / p).string());
    labels.push_back(row.fields.size() >= 2 ? row.fields[1] : std::string("\x01missing"));
    lines.push_back(static_cast<int32_t>(std::min<int64_t>(row.line, INT32_MAX)));
  }
  LT_CHECK(!paths.empty(), kInvalidArgument, csv_path,
           ": no `path,label` lines (an empty CSV file)");
  const auto n = static_cast<int64_t>(paths.size());
  Element columns;
  columns.set_strings("path", std::move(paths));
  columns.set_strings("csv_label", std::move(labels));
  columns.set("csv_line", Tensor::from_vector(lines, Shape{n}));
  const int64_t num_classes = options.num_classes;
  return Dataset::from_tensor_slices(columns).map(
      [csv_path, num_classes](Element e) {
        const std::string text = e.string("csv_label");
        const int32_t line = e.at("csv_line").as<int32_t>()[0];
        const std::string where = str_cat(csv_path, ":", line, ": ");
        LT_CHECK(text != "\x01missing", kInvalidArgument, where, "no label field after '",
                 e.string("path"), "'; each line must be `path,label`");
        int64_t label = 0;
        LT_CHECK(parse_int(text, label), kInvalidArgument, where, "bad label '", text, "' for ",
                 e.string("path"), "; labels are integers");
        LT_CHECK(label >= 0 && label <= std::numeric_limits<int32_t>::max() &&
                     (num_classes <= 0 || label < num_classes),
                 kInvalidArgument, where, "label ", label, " for ", e.string("path"),
                 " is out of range", num_classes > 0 ? str_cat(" [0, ", num_classes, ")") : "");
        e.erase("csv_label");
        e.erase("csv_line");
        e.set("label", Tensor::scalar(static_cast<int32_t>(label)));
        return e;
      },
      {.on_error = options.on_error, .seed = 0});
}

// ---- TFRecord ------------------------------------------------------------------------------

Dataset tfrecord_dataset(const std::vector<std::string>& filenames, int64_t num_parallel_reads) {
  LT_CHECK(!filenames.empty(), kInvalidArgument, "tfrecord_dataset: no files given");
  LT_CHECK(num_parallel_reads >= 0 || num_parallel_reads == kAutotune, kInvalidArgument,
           "tfrecord_dataset: num_parallel_reads must be >= 0 or kAutotune, got ",
           num_parallel_reads);
  Element columns;
  columns.set_strings("path", filenames);
  const int64_t cycle = num_parallel_reads == 0 ? 1 : num_parallel_reads;
  return Dataset::from_tensor_slices(columns).interleave(
      [](const Element& e) {
        return Dataset(std::make_shared<TfRecordFileNode>(e.string("path")));
      },
      cycle, 1, num_parallel_reads);
}

// ---- Images --------------------------------------------------------------------------------

int64_t image_channels(const std::string& color_mode) {
  if (color_mode == "grayscale") return 1;
  if (color_mode == "rgb") return 3;
  if (color_mode == "rgba") return 4;
  LT_CHECK(false, kInvalidArgument,
           "color_mode must be one of \"rgb\", \"rgba\", \"grayscale\"; "
           "got \"",
           color_mode, "\"");
  return 0;
}

int64_t image_tensor_bytes(const ImageLoadOptions& options) {
  return options.image_size[0] * options.image_size[1] * image_channels(options.color_mode) *
         static_cast<int64_t>(sizeof(float));
}

MapFn load_image(const ImageLoadOptions& options) {
  const DecodeResizeOptions d = decode_options(options);
  const int64_t channels = image_channels(options.color_mode);
  return [d, channels, options](Element e, const ElementContext&) {
    const std::string path = e.string(options.path_feature);
    const std::vector<uint8_t> bytes = read_file_bytes(path);
    Tensor image = Tensor::uninitialized(DType::kF32, Shape{d.height, d.width, channels});
    decode_into(bytes, path, d, channels, image);
    e.erase(options.path_feature);
    e.set(options.image_feature, std::move(image));
    return e;
  };
}

MapFn decode_example_image(const ExampleImageOptions& options) {
  const DecodeResizeOptions d = decode_options(options.image);
  const int64_t channels = image_channels(options.image.color_mode);
  return [d, channels, options](Element e, const ElementContext&) {
    const Tensor& record = e.at("record");
    const auto* p = record.as<uint8_t>();
    const std::string source =
        e.has_string("path") ? e.string("path") + " (a record)" : std::string("a record");
    const Example example =
        parse_example(std::vector<uint8_t>(p, p + record.num_elements()), source);
    Tensor image = Tensor::uninitialized(DType::kF32, Shape{d.height, d.width, channels});
    decode_into(example.bytes(options.image_key, source), source, d, channels, image);
    if (!options.label_key.empty()) {
      const int64_t label = example.int64(options.label_key, source) + options.label_offset;
      LT_CHECK(label >= 0 && label <= std::numeric_limits<int32_t>::max(), kInvalidArgument, source,
               ": label ", label, " (", options.label_key, " + ", options.label_offset,
               ") is out of range for an i32 class index");
      e.set("label", Tensor::scalar(static_cast<int32_t>(label)));
    }
    e.erase("record");
    e.set(options.image.image_feature, std::move(image));
    return e;
  };
}

MapFn random_flip_left_right(const std::string& feature) {
  return [feature](Element e, const ElementContext& ctx) {
    if (!random_flip_decision(ctx.seed)) return e;
    Tensor& t = e.at(feature);
    LT_CHECK(t.shape().rank() == 3, kInvalidArgument, "random_flip_left_right: '", feature, "' is ",
             t.shape().to_string(), ", not an (height, width, channels) image");
    const Shape s = t.shape();
    if (t.dtype() == DType::kF32) {
      flip_rows(t.mutable_as<float>(), s[0], s[1], s[2]);
    } else {
      flip_rows(t.mutable_as<uint8_t>(), s[0], s[1], s[2]);
    }
    return e;
  };
}

Dataset tfrecord_images(const std::vector<std::string>& files, const ExampleImageOptions& example,
                        const TfRecordImagesOptions& options) {
  const int64_t image_bytes = image_tensor_bytes(example.image);
  Dataset ds = tfrecord_dataset(
      files, options.shuffle ? std::min<int64_t>(static_cast<int64_t>(files.size()), 2) : 1);
  if (options.shuffle) ds = ds.shuffle(options.batch_size * 8, options.seed);
  ds = ds.map(decode_example_image(example), {.num_parallel_calls = options.num_parallel_calls,
                                              .on_error = options.on_error,
                                              .seed = options.seed,
                                              .max_output_bytes = image_bytes + 4});
  if (options.flip) ds = ds.map(random_flip_left_right("image"), {.seed = options.seed});
  return ds
      .map([](Element e) {
        float* p = e.at("image").mutable_as<float>();
        const int64_t n = e.at("image").num_elements();
        for (int64_t i = 0; i < n; ++i) p[i] *= 1.0f / 255.0f;
        return e;
      })
      .batch(options.batch_size)
      .prefetch(kAutotune);
}

}  // namespace leantrain::data
