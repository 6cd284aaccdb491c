// Byte-level text for language models: a corpus read whole from a (gzip) text file, split by
// position into training and validation bytes, and batches of random windows drawn from a
// seed. The default corpus is the Jargon File (public domain English, about 1.7 MB) from
// the Debian package jargon-text. Needs zlib (link ZLIB::ZLIB); kept out of
// <fewbits/sgd.hpp> like the Fashion-MNIST loader.
//
// Windows: sequence s of batch `step` starts at a position drawn from the words of
// derive(derive({seed}, step), s), so a batch is a pure function of (text, seed, step) and
// a training run can be resumed at any step. A window of length n gives n inputs and the n
// bytes that follow each of them as targets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "fewbits/error.hpp"
#include "fewbits/random.hpp"
#include "fewbits/sgd/gzip_file.hpp"

namespace fewbits::sgd {

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
    return detail::split_text(detail::read_gzip(path), validation_fraction, path);
}

// The Jargon File as installed by Debian's jargon-text; a missing file says how to install it.
inline text_corpus load_jargon_file(const std::string& path = jargon_file_default_path,
                                    double validation_fraction = 0.1)
{
    return detail::split_text(detail::read_gzip(path, std::string("the Jargon File is missing: ") +
                                                         jargon_file_install_hint),
                              validation_fraction, path);
}

// A batch of `sequences` windows of `length` bytes: inputs[s * length + t] is a byte of the
// text and targets[s * length + t] the byte after it.
struct token_batch {
    std::size_t sequences = 0;
    std::size_t length = 0;
    std::vector<std::int32_t> inputs;
    std::vector<std::int32_t> targets;
};

// Position of window s in batch `step`: uniform over the starts that leave room for length + 1
// bytes, from two words of its stream (64 bits: the modulo favours some starts by at most
// positions / 2^64, far below anything a corpus could show).
inline std::size_t window_start(std::size_t positions, std::uint64_t seed, std::uint64_t step, std::size_t s)
{
    std::uint32_t w[2];
    fill_random_words(derive(derive(stream{seed}, step), s), w);
    const std::uint64_t r = (std::uint64_t{w[0]} << 32) | w[1];
    return static_cast<std::size_t>(r % positions);
}

// Fills out with batch `step` of the sequence of batches named by seed.
inline void sample_windows(std::span<const std::uint8_t> text, std::size_t sequences, std::size_t length,
                           std::uint64_t seed, std::uint64_t step, token_batch& out)
{
    if (sequences == 0) raise_invalid_argument("sequences must be at least 1, got 0");
    if (length == 0) raise_invalid_argument("length must be at least 1, got 0");
    if (text.size() < length + 1)
        raise_invalid_argument("windows of length " + std::to_string(length) + " need at least " +
                               std::to_string(length + 1) + " bytes of text, got " + std::to_string(text.size()));
    const std::size_t positions = text.size() - length;  // starts 0 .. size - length - 1
    out.sequences = sequences;
    out.length = length;
    out.inputs.resize(sequences * length);
    out.targets.resize(sequences * length);
    for (std::size_t s = 0; s < sequences; ++s) {
        const std::size_t start = window_start(positions, seed, step, s);
        for (std::size_t t = 0; t < length; ++t) {
            out.inputs[s * length + t] = text[start + t];
            out.targets[s * length + t] = text[start + t + 1];
        }
    }
}

}  // namespace fewbits::sgd
