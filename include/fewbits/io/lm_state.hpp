// The FBLM state file of a byte-level GPT: what `tiny_gpt --dump-state` writes and what the
// PyTorch reference (scripts/gpt_reference.py) writes, so that either side can check the
// other. All little-endian:
//   "FBLM"; uint32 version = 1, V, T, C, H, L, B, N;
//   float32 parameters: wte [V][C], wpe [T][C], then for each layer ln1_w [C], ln1_b [C],
//     qkv_w [C][3C], qkv_b [3C], attn_proj_w [C][C], attn_proj_b [C], ln2_w [C], ln2_b [C],
//     fc_w [C][4C], fc_b [4C], fc_proj_w [4C][C], fc_proj_b [C]; then lnf_w [C], lnf_b [C];
//   int32 inputs [B][N]; int32 targets [B][N]; float32 logits [B][N][V]; float32 loss;
//   float32 gradients of the loss, in the parameter order. Nothing else.
// Weight matrices are [in][out] row-major (y = x W + b). Reading checks the magic, the
// version, the shape (C divisible by H, 1 <= N <= T) and the exact file size, and names the
// file and the problem (dataset_error); nothing is returned half-read.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "fewbits/data/gzip_file.hpp"
#include "fewbits/error.hpp"

namespace fewbits::io {

struct lm_shape {
    std::uint32_t vocab = 256, context = 0, channels = 0, heads = 0, layers = 0;

    // Floats in the parameters, in the order above.
    std::size_t parameter_count() const noexcept
    {
        const std::size_t c = channels;
        const std::size_t per_layer = 2 * c + (c * 3 * c + 3 * c) + (c * c + c) + 2 * c + (c * 4 * c + 4 * c) +
                                      (4 * c * c + c);
        return std::size_t{vocab} * c + std::size_t{context} * c + layers * per_layer + 2 * c;
    }
};

struct lm_state {
    lm_shape shape;
    std::uint32_t batch = 0, length = 0;  // B sequences of N bytes
    std::vector<float> parameters;
    std::vector<std::int32_t> inputs, targets;  // [B][N]
    std::vector<float> logits;                   // [B][N][V]
    float loss = 0.0f;
    std::vector<float> gradients;  // like parameters
};

namespace detail {

static_assert(std::endian::native == std::endian::little, "the FBLM reader and writer assume a little-endian host");

inline void validate_lm_state(const lm_state& s, const std::string& what)
{
    const lm_shape& m = s.shape;
    auto fail = [&](const std::string& why) { data::dataset_fail(what, why); };
    if (m.vocab == 0 || m.context == 0 || m.channels == 0 || m.heads == 0 || m.layers == 0)
        fail("V, T, C, H and L must be positive, got " + std::to_string(m.vocab) + ", " + std::to_string(m.context) +
             ", " + std::to_string(m.channels) + ", " + std::to_string(m.heads) + ", " + std::to_string(m.layers));
    if (m.channels % m.heads != 0)
        fail("C (" + std::to_string(m.channels) + ") must be divisible by H (" + std::to_string(m.heads) + ")");
    if (s.batch == 0 || s.length == 0 || s.length > m.context)
        fail("B must be positive and N in 1..T (" + std::to_string(m.context) + "), got B = " + std::to_string(s.batch) +
             ", N = " + std::to_string(s.length));
}

}  // namespace detail

// Reads an FBLM file (see the top of this header).
inline lm_state read_lm_state(const std::string& path)
{
    const std::vector<unsigned char> bytes = data::read_gzip(path);
    std::size_t at = 0;
    auto take = [&](void* out, std::size_t n) {
        if (bytes.size() - at < n)
            data::dataset_fail(path, "truncated: " + std::to_string(bytes.size()) + " bytes, the header and shape need more");
        std::memcpy(out, bytes.data() + at, n);
        at += n;
    };
    char magic[4];
    take(magic, 4);
    if (std::memcmp(magic, "FBLM", 4) != 0) data::dataset_fail(path, "not an FBLM state file (wrong magic)");
    std::uint32_t header[8];
    take(header, sizeof header);
    if (header[0] != 1) data::dataset_fail(path, "FBLM version " + std::to_string(header[0]) + ", this reader knows 1");
    lm_state s;
    s.shape = {header[1], header[2], header[3], header[4], header[5]};
    s.batch = header[6];
    s.length = header[7];
    detail::validate_lm_state(s, path);
    const std::size_t p = s.shape.parameter_count();
    const std::size_t tokens = std::size_t{s.batch} * s.length;
    const std::size_t expected = 4 + sizeof header + 4 * (2 * p + 2 * tokens + tokens * s.shape.vocab + 1);
    if (bytes.size() != expected)
        data::dataset_fail(path, "holds " + std::to_string(bytes.size()) + " bytes, the shape in its header needs " +
                                       std::to_string(expected));
    s.parameters.resize(p);
    take(s.parameters.data(), 4 * p);
    s.inputs.resize(tokens);
    take(s.inputs.data(), 4 * tokens);
    s.targets.resize(tokens);
    take(s.targets.data(), 4 * tokens);
    s.logits.resize(tokens * s.shape.vocab);
    take(s.logits.data(), 4 * s.logits.size());
    take(&s.loss, 4);
    s.gradients.resize(p);
    take(s.gradients.data(), 4 * p);
    for (std::size_t i = 0; i < tokens; ++i)
        if (s.inputs[i] < 0 || s.inputs[i] >= static_cast<std::int32_t>(s.shape.vocab) || s.targets[i] < 0 ||
            s.targets[i] >= static_cast<std::int32_t>(s.shape.vocab))
            data::dataset_fail(path, "token " + std::to_string(i) + " is outside 0.." + std::to_string(s.shape.vocab - 1));
    return s;
}

// Writes s to path as an FBLM file; std::invalid_argument (nothing written) when the sizes
// of its arrays do not match its shape.
inline void write_lm_state(const std::string& path, const lm_state& s)
{
    try {
        detail::validate_lm_state(s, "lm_state");
    } catch (const data::dataset_error& e) {
        raise_invalid_argument(e.what());
    }
    const std::size_t p = s.shape.parameter_count();
    const std::size_t tokens = std::size_t{s.batch} * s.length;
    auto check = [](std::size_t got, std::size_t want, const char* name) {
        require_same_size(want, "the shape's", got, name);
    };
    check(s.parameters.size(), p, "parameters");
    check(s.gradients.size(), p, "gradients");
    check(s.inputs.size(), tokens, "inputs");
    check(s.targets.size(), tokens, "targets");
    check(s.logits.size(), tokens * s.shape.vocab, "logits");
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) raise<data::dataset_error>("fewbits: " + path + ": cannot open for writing");
    const std::uint32_t header[8] = {1, s.shape.vocab, s.shape.context, s.shape.channels, s.shape.heads,
                                     s.shape.layers, s.batch, s.length};
    auto put = [&](const void* data, std::size_t n) { out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n)); };
    put("FBLM", 4);
    put(header, sizeof header);
    put(s.parameters.data(), 4 * p);
    put(s.inputs.data(), 4 * tokens);
    put(s.targets.data(), 4 * tokens);
    put(s.logits.data(), 4 * s.logits.size());
    put(&s.loss, 4);
    put(s.gradients.data(), 4 * p);
    if (!out.flush()) raise<data::dataset_error>("fewbits: " + path + ": write failed");
}

}  // namespace fewbits::io
