// A byte-level GPT-2 (the decoder of the language-model work), built from the layer library:
// vocabulary V = 256 bytes, context T, channels C, heads H (C divisible by H), layers L.
// Weight matrices are [in][out] row-major (y = x W + b).
//   x = wte[token] + wpe[position]
//   each layer: x = x + attn_proj(attention(qkv(LN1(x))));  x = x + fc_proj(gelu(fc(LN2(x))))
//     (qkv: C -> 3C, attn_proj: C -> C, fc: C -> 4C, fc_proj: 4C -> C; attention.hpp)
//   logits = LNf(x) wte^T (the head shares the token embedding); loss = mean cross-entropy of
//   the next byte over all B x N positions of a batch of B sequences of N <= T bytes.
// GPT-2 initialisation: normal(0, 0.02) for the weights and embeddings, 0.02 / sqrt(2 L) for
// attn_proj_w and fc_proj_w, layer-norm weights 1, biases 0 (from derive({init_seed}, id)).
//
// Every linear layer has the six quantizers of `linear` (gpt_options::quantization), the
// attention's backward products their own (gpt_options::attention_backward); weights and
// biases are stored as gpt_options::weights says and updated by any optimizer. Rows are
// tokens, grouped by sequence, and every per-row rounding draws from its own stream, so the
// per-sample noise of a sequence is independent of every other's.
//
// Layer ids (the streams of a layer's tensors): 0 the embeddings and head, then for layer l
// 1 + 8 l + (0 ln1, 1 qkv, 2 attention, 3 attn_proj, 4 ln2, 5 fc, 6 gelu, 7 fc_proj), and
// 1 + 8 L the final layer norm.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "fewbits/data/dataset.hpp"
#include "fewbits/error.hpp"
#include "fewbits/nn/attention.hpp"
#include "fewbits/nn/elementwise.hpp"
#include "fewbits/nn/gelu.hpp"
#include "fewbits/nn/gemm.hpp"
#include "fewbits/nn/init.hpp"
#include "fewbits/nn/layer.hpp"
#include "fewbits/nn/layer_norm.hpp"
#include "fewbits/nn/linear.hpp"
#include "fewbits/nn/loss.hpp"
#include "fewbits/nn/parameter.hpp"
#include "fewbits/nn/tensor.hpp"

namespace fewbits::models {

struct gpt_options {
    std::size_t vocab = 256;
    std::size_t context = 64;   // T
    std::size_t channels = 64;  // C
    std::size_t heads = 4;      // H
    std::size_t layers = 2;     // L
    nn::weight_storage weights = nn::weight_storage::fp32();
    nn::linear_quantization quantization{};  // every linear layer's six quantizers
    nn::quantizer attention_backward{};      // the operands of attention's two backward products
    std::uint64_t init_seed = 1;
};

class gpt {
public:
    explicit gpt(const gpt_options& o)
        : o_(o), wte_("wte", 0, nn::tensor_key("gpt.wte"), o.vocab, o.channels, o.weights),
          wpe_("wpe", 0, nn::tensor_key("gpt.wpe"), o.context, o.channels, o.weights),
          lnf_(o.channels, 1 + 8 * o.layers, o.weights)
    {
        if (o.vocab == 0 || o.context == 0 || o.layers == 0 || o.heads == 0 || o.channels == 0 ||
            o.channels % o.heads != 0)
            raise_invalid_argument("gpt_options need positive vocab, context, layers and heads, and channels a "
                                   "positive multiple of heads; got V = " + std::to_string(o.vocab) + ", T = " +
                                   std::to_string(o.context) + ", C = " + std::to_string(o.channels) + ", H = " +
                                   std::to_string(o.heads) + ", L = " + std::to_string(o.layers));
        const std::size_t c = o.channels;
        for (std::size_t l = 0; l < o.layers; ++l) {
            const std::uint64_t id = 1 + 8 * l;
            nn::sequential attn;
            attn.add(nn::layer_norm(c, id + 0, o.weights));
            attn.add(nn::linear(c, 3 * c, id + 1, o.weights, o.quantization, o.init_seed));
            attn.add(nn::causal_self_attention(c, o.heads, id + 2, o.attention_backward));
            attn.add(nn::linear(c, c, id + 3, o.weights, o.quantization, o.init_seed));
            nn::sequential mlp;
            mlp.add(nn::layer_norm(c, id + 4, o.weights));
            mlp.add(nn::linear(c, 4 * c, id + 5, o.weights, o.quantization, o.init_seed));
            mlp.add(nn::gelu());
            mlp.add(nn::linear(4 * c, c, id + 7, o.weights, o.quantization, o.init_seed));
            blocks_.add(nn::residual(std::move(attn)));
            blocks_.add(nn::residual(std::move(mlp)));
        }
        // GPT-2's initialisation, parameter by parameter in the pinned order.
        const std::vector<nn::parameter*> params = parameters();
        for (std::size_t i = 0; i < params.size(); ++i) {
            nn::parameter& p = *params[i];
            const std::string& name = names_[i];
            const bool bias = name.ends_with("_b");
            const bool norm_weight = name.ends_with("ln1_w") || name.ends_with("ln2_w") || name == "lnf_w";
            if (bias || norm_weight) {
                p.assign(std::vector<float>(p.size(), bias ? 0.0f : 1.0f));
                continue;
            }
            const bool projection = name.ends_with("attn_proj_w") || name.ends_with("fc_proj_w");
            const float std_dev = projection ? 0.02f / std::sqrt(2.0f * static_cast<float>(o.layers)) : 0.02f;
            std::vector<float> v = nn::standard_normals(p.size(), derive(stream{o.init_seed}, nn::tensor_key(name)));
            for (float& x : v) x *= std_dev;
            p.assign(v);
        }
    }

    const gpt_options& options() const noexcept { return o_; }

    // Changes the rounding of every linear layer and of the attention's backward products
    // (e.g. to measure a trained model's gradient variance under several roundings).
    void set_quantization(const nn::linear_quantization& q, const nn::quantizer& attention_backward)
    {
        for (std::size_t i = 0; i < blocks_.size(); ++i) {
            auto& inner = dynamic_cast<nn::sequential&>(dynamic_cast<nn::residual&>(blocks_[i]).inner());
            for (std::size_t j = 0; j < inner.size(); ++j) {
                if (auto* l = dynamic_cast<nn::linear*>(&inner[j])) l->set_quantization(q);
                if (auto* a = dynamic_cast<nn::causal_self_attention*>(&inner[j])) a->set_backward_quantizer(attention_backward);
            }
        }
        o_.quantization = q;
        o_.attention_backward = attention_backward;
    }

    // Every parameter in the pinned order: wte, wpe, then per layer ln1_w, ln1_b, qkv_w, qkv_b,
    // attn_proj_w, attn_proj_b, ln2_w, ln2_b, fc_w, fc_b, fc_proj_w, fc_proj_b, then lnf_w, lnf_b.
    std::vector<nn::parameter*> parameters()
    {
        std::vector<nn::parameter*> p{&wte_, &wpe_};
        for (nn::parameter* q : blocks_.parameters()) p.push_back(q);
        p.push_back(&lnf_.gamma());
        p.push_back(&lnf_.beta());
        if (names_.empty()) {
            names_ = {"wte", "wpe"};
            for (std::size_t l = 0; l < o_.layers; ++l)
                for (const char* n : {"ln1_w", "ln1_b", "qkv_w", "qkv_b", "attn_proj_w", "attn_proj_b", "ln2_w", "ln2_b",
                                      "fc_w", "fc_b", "fc_proj_w", "fc_proj_b"})
                {
                    std::string name = "h";  // appended piece by piece: GCC 12 warns falsely (-Wrestrict) on a + chain
                    name += std::to_string(l);
                    name += '.';
                    name += n;
                    names_.push_back(std::move(name));
                }
            names_.push_back("lnf_w");
            names_.push_back("lnf_b");
        }
        return p;
    }
    // The names of parameters(), in the same order ("wte", "h0.qkv_w", ..., "lnf_b").
    const std::vector<std::string>& parameter_names()
    {
        (void)parameters();
        return names_;
    }

    // Bytes of the activations the model keeps (its layers' and its own).
    std::size_t activation_bytes() const
    {
        return blocks_.activation_bytes() + lnf_.activation_bytes() + x_.bytes() + h_.bytes() + logits_.bytes() +
               dlogits_.bytes() + dh_.bytes() + tokens_.capacity() * sizeof(std::int32_t);
    }

    // Logits (B*N x V) of `sequences` sequences of tokens.size() / sequences bytes each.
    const nn::tensor& forward(std::span<const std::int32_t> tokens, std::size_t sequences, const nn::pass_context& ctx)
    {
        const std::size_t n = check_tokens(tokens, sequences, "tokens");
        const std::size_t c = o_.channels;
        tokens_.assign(tokens.begin(), tokens.end());
        x_ = nn::tensor::sequences(sequences, n, c);
        {
            const nn::parameter_values wte(wte_), wpe(wpe_);
            for (std::size_t r = 0; r < tokens.size(); ++r) {
                const auto e = wte.row(static_cast<std::size_t>(tokens[r]));
                const auto p = wpe.row(r % n);
                auto x = x_.row(r);
                for (std::size_t j = 0; j < c; ++j) x[j] = e[j] + p[j];
            }
        }
        const nn::tensor& h = lnf_.forward(blocks_.forward(x_, ctx), ctx);
        h_ = h;
        logits_.resize(h.rows(), o_.vocab);
        const nn::parameter_values wte(wte_);
        nn::gemm(h.rows(), o_.vocab, c, h.data(), c, nn::transpose::no, wte.data(), c, nn::transpose::yes, logits_.data(),
             o_.vocab, false, ctx.threads);
        return logits_;
    }

    // Forward, loss and backward: fills every parameter's gradient (of the mean loss) and
    // returns the mean cross-entropy of the next byte over all positions.
    double compute_gradients(std::span<const std::int32_t> inputs, std::span<const std::int32_t> targets,
                             std::size_t sequences, const nn::pass_context& ctx)
    {
        const double loss = forward_loss(inputs, targets, sequences, ctx);
        backward(ctx);
        return loss;
    }

    // Forward and loss: the mean cross-entropy of the next byte over all positions; keeps what
    // backward needs.
    double forward_loss(std::span<const std::int32_t> inputs, std::span<const std::int32_t> targets,
                        std::size_t sequences, const nn::pass_context& ctx)
    {
        require_same_size(inputs.size(), "inputs", targets.size(), "targets");
        check_tokens(targets, sequences, "targets");
        const nn::tensor& logits = forward(inputs, sequences, ctx);
        sequences_ = sequences;
        return nn::softmax_cross_entropy(logits, targets, dlogits_).sum / static_cast<double>(logits.rows());
    }

    // The backward pass of the last forward_loss: fills every parameter's gradient, reporting
    // each as complete to ctx.gradients (the embeddings last: the head and the input both
    // add to wte's gradient).
    void backward(const nn::pass_context& ctx)
    {
        if (dlogits_.rows() == 0) raise_invalid_argument("gpt::backward needs a forward_loss first");
        const std::size_t rows = dlogits_.rows(), c = o_.channels, v = o_.vocab, sequences = sequences_;
        const float inv_rows = 1.0f / static_cast<float>(rows);
        // The head: dwte = (1/rows) dlogits^T h, dh = dlogits wte.
        nn::tensor& dwte = wte_.grad();
        nn::gemm(v, c, rows, dlogits_.data(), v, nn::transpose::yes, h_.data(), c, dwte.data(), c, false, ctx.threads);
        for (float& g : dwte.values()) g *= inv_rows;
        dh_.resize(rows, c);
        dh_.set_groups(sequences);
        {
            const nn::parameter_values wte(wte_);
            nn::gemm(rows, c, v, dlogits_.data(), v, nn::transpose::no, wte.data(), c, dh_.data(), c, false, ctx.threads);
        }
        const nn::tensor& dlnf = lnf_.backward(dh_, ctx, true);
        nn::report_gradients(lnf_, ctx);
        const nn::tensor& dx = blocks_.backward(dlnf, ctx, true);
        lnf_.release_input_gradient();
        // The embeddings, row by row in order (one sum order whatever the thread count).
        nn::tensor& dwpe = wpe_.grad();
        std::fill(dwpe.values().begin(), dwpe.values().end(), 0.0f);
        const std::size_t n = rows / sequences;
        for (std::size_t r = 0; r < rows; ++r) {
            const auto d = dx.row(r);
            auto te = dwte.row(static_cast<std::size_t>(tokens_[r]));
            auto pe = dwpe.row(r % n);
            nn::fma_scalar(inv_rows, d, te, te);
            nn::fma_scalar(inv_rows, d, pe, pe);
        }
        blocks_.release_input_gradient();
        if (ctx.gradients != nullptr) {
            ctx.gradients->complete(wte_);
            ctx.gradients->complete(wpe_);
        }
    }

private:
    std::size_t check_tokens(std::span<const std::int32_t> tokens, std::size_t sequences, const char* name) const
    {
        if (sequences == 0 || tokens.empty() || tokens.size() % sequences != 0)
            raise_invalid_argument(std::string(name) + " must hold `sequences` (" + std::to_string(sequences) +
                                   ") equal non-empty sequences, got " + std::to_string(tokens.size()) + " tokens");
        const std::size_t n = tokens.size() / sequences;
        if (n > o_.context)
            raise_invalid_argument(std::string(name) + ": sequences of " + std::to_string(n) +
                                   " tokens exceed the context (" + std::to_string(o_.context) + ")");
        for (std::size_t i = 0; i < tokens.size(); ++i)
            if (tokens[i] < 0 || static_cast<std::size_t>(tokens[i]) >= o_.vocab)
                raise_invalid_argument(std::string(name) + "[" + std::to_string(i) + "] = " + std::to_string(tokens[i]) +
                                       " is outside 0.." + std::to_string(o_.vocab - 1));
        return n;
    }

    gpt_options o_;
    nn::parameter wte_, wpe_;
    nn::sequential blocks_;
    nn::layer_norm lnf_;
    std::vector<std::string> names_;
    std::vector<std::int32_t> tokens_;
    std::size_t sequences_ = 0;
    nn::tensor x_, h_, logits_, dlogits_, dh_;
};

}  // namespace fewbits::models
