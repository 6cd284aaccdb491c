// Batches of byte windows for language models, drawn from a seed: sequence s of batch `step`
// starts at a position drawn from the words of derive(derive({seed}, step), s), so a batch is
// a pure function of (text, seed, step) and a training run can be resumed at any step. A
// window of length n gives n inputs and the n bytes that follow each of them as targets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "fewbits/error.hpp"
#include "fewbits/random.hpp"

namespace fewbits::data {

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

}  // namespace fewbits::data
