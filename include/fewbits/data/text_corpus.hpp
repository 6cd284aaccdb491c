// Byte-level text for language models: a corpus read whole from a (gzip) text file and split
// by position into training and validation bytes (batches of windows: text_batch.hpp). The
// default corpus is the Jargon File (public domain English, about 1.7 MB) from the Debian
// package jargon-text. Needs zlib (link ZLIB::ZLIB); kept out of <fewbits/training.hpp> like the
// Fashion-MNIST loader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fewbits/data/gzip_file.hpp"
#include "fewbits/data/text_batch.hpp"
#include "fewbits/error.hpp"

namespace fewbits::data {

inline constexpr const char* jargon_file_default_path = "/usr/share/doc/jargon-text/jargon.txt.gz";
inline constexpr const char* jargon_file_install_hint =
    "install it with `sudo apt-get install jargon-text` (Debian/Ubuntu), or run "
    "cmake/install-deps.sh --with-data";

struct text_corpus {
    std::vector<std::uint8_t> train;       // the first part of the text
    std::vector<std::uint8_t> validation;  // the rest: the last validation_fraction of it
};

namespace detail {
inline text_corpus split_text(const std::vector<unsigned char>& text, double validation_fraction,
                              const std::string& path)
{
    if (!(validation_fraction > 0.0 && validation_fraction < 1.0))
        raise_invalid_argument("validation_fraction must be in (0, 1), got " + exact_string(validation_fraction));
    const auto cut = static_cast<std::size_t>(static_cast<double>(text.size()) * (1.0 - validation_fraction));
    if (cut < 2 || text.size() - cut < 2)
        dataset_fail(path, "holds " + std::to_string(text.size()) +
                               " bytes, too few to split into training and validation text");
    return {std::vector<std::uint8_t>(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(cut)),
            std::vector<std::uint8_t>(text.begin() + static_cast<std::ptrdiff_t>(cut), text.end())};
}
}  // namespace detail

// The whole text of path (gzip or plain), split by position: the last validation_fraction
// of the bytes is the validation text. Errors: dataset_error naming the file (missing,
// a directory, corrupt or truncated gzip, fewer than 2 bytes on either side);
// std::invalid_argument for validation_fraction outside (0, 1).
inline text_corpus load_text_corpus(const std::string& path, double validation_fraction = 0.1)
{
    return detail::split_text(read_gzip(path), validation_fraction, path);
}

// The Jargon File as installed by Debian's jargon-text; a missing file says how to install it.
inline text_corpus load_jargon_file(const std::string& path = jargon_file_default_path,
                                    double validation_fraction = 0.1)
{
    return detail::split_text(read_gzip(path, std::string("the Jargon File is missing: ") +
                                                         jargon_file_install_hint),
                              validation_fraction, path);
}

}  // namespace fewbits::data
