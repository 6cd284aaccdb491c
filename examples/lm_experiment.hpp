// What the language-model programs (tiny_gpt, lm_batch_vs_precision) share: the validation
// loss of the byte-level GPT on fixed windows of the validation text, and reading the corpus
// (the Jargon File, or a text the user names).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <fewbits/training.hpp>
#include <fewbits/data/text_corpus.hpp>

namespace experiment {

using namespace fewbits::training;

// Mean cross-entropy (nats per byte) on `batches` batches of `sequences` windows of `length`
// bytes of text, drawn with a seed of their own (the same windows for every model and step),
// in an FP32 pass (no rounding anywhere).
inline double lm_validation_loss(gpt& model, const std::vector<std::uint8_t>& text, std::size_t sequences,
                                 std::size_t length, std::uint64_t batches, unsigned threads)
{
    pass_context ctx;
    ctx.exact = true;
    ctx.threads = threads;
    token_batch b;
    tensor grad;
    double sum = 0.0;
    for (std::uint64_t k = 0; k < batches; ++k) {
        sample_windows(text, sequences, length, 0x76616C6964ull /* "valid" */, k, b);
        const tensor& logits = model.forward(b.inputs, b.sequences, ctx);
        sum += softmax_cross_entropy(logits, b.targets, grad).sum / static_cast<double>(b.inputs.size());
    }
    return sum / static_cast<double>(batches);
}

// The corpus at path: the Jargon File's own message (with how to install it) for its default
// path, a plain loader error for any other file.
inline text_corpus load_corpus(const std::string& path)
{
    return path == jargon_file_default_path ? load_jargon_file(path) : load_text_corpus(path);
}

}  // namespace experiment
