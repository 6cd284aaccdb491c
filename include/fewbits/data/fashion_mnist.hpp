// Fashion-MNIST loader: the gzip-compressed IDX files of the Debian package
// dataset-fashion-mnist (/usr/share/datasets/fashion-mnist). Needs zlib (link ZLIB::ZLIB);
// kept out of <fewbits/training.hpp> so that the rest of the library stays zlib-free.
//
// IDX format (big-endian): magic 0x00000803, count, rows, cols, then count * rows * cols
// pixel bytes (images); magic 0x00000801, count, then count label bytes (labels). Pixels are
// scaled to [0, 1]. Errors (std::runtime_error subclass dataset_error, message starting with
// "fewbits:" and naming the file): a missing file (for load_fashion_mnist, with how to install
// the package), a directory or other non-file where a file should be, a file
// that is not valid gzip or is truncated, a wrong magic number, image and label counts that
// differ, a label outside 0..9. Nothing is returned half-read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "fewbits/data/dataset.hpp"
#include "fewbits/data/gzip_file.hpp"
#include "fewbits/error.hpp"

namespace fewbits::data {

inline constexpr const char* fashion_mnist_default_dir = "/usr/share/datasets/fashion-mnist";
inline constexpr const char* fashion_mnist_install_hint =
    "install it with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or run "
    "cmake/install-deps.sh --with-data";

namespace detail {

inline std::uint32_t read_be32(const std::vector<unsigned char>& b, std::size_t at)
{
    return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) | (std::uint32_t{b[at + 2]} << 8) |
           std::uint32_t{b[at + 3]};
}

inline std::string hex32(std::uint32_t v)
{
    static const char* digits = "0123456789ABCDEF";
    std::string s = "0x";
    for (int i = 7; i >= 0; --i) s += digits[(v >> (4 * i)) & 15];
    return s;
}

}  // namespace detail

// Reads an IDX image file and its label file into a classification dataset with 10 classes.
// max_samples > 0 keeps only the first max_samples (the files are still checked whole).
namespace detail {
inline dataset load_idx(const std::string& images_path, const std::string& labels_path, std::size_t max_samples,
                        const std::string& if_missing)
{
    const auto images = read_gzip(images_path, if_missing);
    const auto labels = read_gzip(labels_path, if_missing);
    if (images.size() < 16) dataset_fail(images_path, "too short for an IDX image header (" +
                                                                  std::to_string(images.size()) + " bytes)");
    if (labels.size() < 8) dataset_fail(labels_path, "too short for an IDX label header (" +
                                                                 std::to_string(labels.size()) + " bytes)");
    if (const auto m = detail::read_be32(images, 0); m != 0x00000803u)
        dataset_fail(images_path, std::string("wrong magic number ") + detail::hex32(m) + " (IDX images: 0x00000803)");
    if (const auto m = detail::read_be32(labels, 0); m != 0x00000801u)
        dataset_fail(labels_path, std::string("wrong magic number ") + detail::hex32(m) + " (IDX labels: 0x00000801)");
    const std::size_t count = detail::read_be32(images, 4);
    const std::size_t rows = detail::read_be32(images, 8);
    const std::size_t cols = detail::read_be32(images, 12);
    const std::size_t label_count = detail::read_be32(labels, 4);
    if (count != label_count)
        dataset_fail(images_path, std::to_string(count) + " images but " + labels_path + " has " +
                                              std::to_string(label_count) + " labels");
    if (rows == 0 || cols == 0 || rows > 4096 || cols > 4096)
        dataset_fail(images_path, std::string("implausible image size ") + std::to_string(rows) + " x " + std::to_string(cols));
    const std::size_t pixels = rows * cols;
    if (images.size() != 16 + count * pixels)
        dataset_fail(images_path, std::string("holds ") + std::to_string(images.size() - 16) + " pixel bytes, expected " +
                                              std::to_string(count) + " x " + std::to_string(pixels) + " (truncated?)");
    if (labels.size() != 8 + count)
        dataset_fail(labels_path, std::string("holds ") + std::to_string(labels.size() - 8) + " label bytes, expected " +
                                              std::to_string(count) + " (truncated?)");
    const std::size_t n = max_samples > 0 && max_samples < count ? max_samples : count;
    dataset d;
    d.classes = 10;
    d.inputs = nn::tensor(n, pixels);
    d.labels.resize(n);
    for (std::size_t i = 0; i < count; ++i)
        if (labels[8 + i] > 9)
            dataset_fail(labels_path, std::string("label ") + std::to_string(labels[8 + i]) + " of sample " +
                                                  std::to_string(i) + " is outside 0..9");
    for (std::size_t i = 0; i < n; ++i) {
        d.labels[i] = labels[8 + i];
        for (std::size_t p = 0; p < pixels; ++p) d.inputs(i, p) = static_cast<float>(images[16 + i * pixels + p]) / 255.0f;
    }
    return d;
}
}  // namespace detail

inline dataset load_idx(const std::string& images_path, const std::string& labels_path, std::size_t max_samples = 0)
{
    return detail::load_idx(images_path, labels_path, max_samples, "");
}

enum class fashion_mnist_split { train, test };

// The training (60000) or test (10000) set from dir (default: the Debian package's location).
inline dataset load_fashion_mnist(fashion_mnist_split split, const std::string& dir = fashion_mnist_default_dir,
                                  std::size_t max_samples = 0)
{
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
        dataset_fail(dir, std::string(std::filesystem::exists(dir, ec) ? "is not a directory" : "no such directory") +
                                      "; the Fashion-MNIST files are looked for in a directory (default " +
                                      fashion_mnist_default_dir + "): " + fashion_mnist_install_hint);
    const std::string prefix = dir + (split == fashion_mnist_split::train ? "/train" : "/t10k");
    return detail::load_idx(prefix + "-images-idx3-ubyte.gz", prefix + "-labels-idx1-ubyte.gz", max_samples,
                            std::string("the Fashion-MNIST data set is not in ") + dir + ": " + fashion_mnist_install_hint);
}

// Whether the data set's four files are present in dir.
inline bool fashion_mnist_available(const std::string& dir = fashion_mnist_default_dir)
{
    std::error_code ec;
    for (const char* f : {"/train-images-idx3-ubyte.gz", "/train-labels-idx1-ubyte.gz", "/t10k-images-idx3-ubyte.gz",
                          "/t10k-labels-idx1-ubyte.gz"})
        if (!std::filesystem::is_regular_file(dir + f, ec)) return false;
    return true;
}

}  // namespace fewbits::data
