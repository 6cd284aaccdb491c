// libFuzzer target for the IDX loader (fewbits/data/fashion_mnist.hpp): the input is split
// into an image file and a label file (plain or, if the bytes say so, gzip), written to a
// private temporary directory and loaded. The loader must return a consistent data set or
// throw dataset_error; any other outcome aborts, and the sanitizers catch the rest.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <fewbits/data/fashion_mnist.hpp>

namespace {

const std::string& work_dir()
{
    static const std::string dir = [] {
        const auto d = std::filesystem::temp_directory_path() / ("fewbits_fuzz_idx_" + std::to_string(::getpid()));
        std::filesystem::create_directories(d);
        return d.string();
    }();
    return dir;
}

void write(const std::string& path, const std::uint8_t* data, std::size_t size)
{
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                  static_cast<std::streamsize>(size));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 2) return 0;
    // First two bytes: where the label file starts (mod the rest's size).
    const std::size_t rest = size - 2;
    const std::size_t split = rest == 0 ? 0 : ((std::size_t{data[0]} << 8) | data[1]) % (rest + 1);
    const std::string images = work_dir() + "/images", labels = work_dir() + "/labels";
    write(images, data + 2, split);
    write(labels, data + 2 + split, rest - split);
    try {
        const fewbits::data::dataset d = fewbits::data::load_idx(images, labels, size % 7);
        if (d.labels.size() != d.inputs.rows() || d.classes != 10) std::abort();
        for (int label : d.labels)
            if (label < 0 || label > 9) std::abort();
        for (float x : d.inputs.values())
            if (!(x >= 0.0f && x <= 1.0f)) std::abort();
    } catch (const fewbits::data::dataset_error&) {
        // expected for malformed input
    }
    return 0;
}
