// One AdamW training step of the byte-level GPT (gpt.hpp) at the size the language-model
// experiments use: C = 128, L = 4, H = 4, T = 64, batch 16 sequences of 64 bytes (1024 tokens),
// in FP32 and with E4M3 SR in the backward pass plus BF16 weights and BF16 moments updated with
// SR. Wall time, tokens per second. bench/pytorch_gpt_step.py times the same step of the same
// model in PyTorch (run both in one session to compare). Every run checks that the loss is
// finite, so the work cannot be optimised away.
//   BM_gpt_step/Q/T/U   Q: 0 fp32, 1 low precision; T threads; U: 0 updates after the backward
//                       pass (gradients of the whole model held), 1 in it (train/lm_step.hpp,
//                       the lean mode of docs/memory.md: the same bits)
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <fewbits/training.hpp>

namespace {

using namespace fewbits::training;

void BM_gpt_step(benchmark::State& state)
{
    const bool low = state.range(0) != 0;
    const auto threads = static_cast<unsigned>(state.range(1));
    lm_step_options mode;
    if (state.range(2) != 0) mode.timing = update_timing::in_backward;
    gpt_options o;
    o.context = 64;
    o.channels = 128;
    o.heads = 4;
    o.layers = 4;
    adamw_optimizer opt;
    if (low) {
        const quantizer e4m3 =
            quantizer::to<fewbits::float8_e4m3fn>({fewbits::rounding::stochastic}, scaling::power_of_two);
        o.quantization = linear_quantization::backward_only(e4m3);
        o.attention_backward = e4m3;
        o.weights = weight_storage::stored_as<fewbits::bfloat16>();
        opt.moments = moment_format::bf16;
        opt.update.mode = fewbits::rounding::stochastic;
    }
    gpt model(o);
    // 16 sequences of 64 bytes of English-like text (fixed: the speed does not depend on it).
    const std::string text = "The Jargon File is a comprehensive compendium of hacker slang illuminating many ";
    token_batch b;
    b.sequences = 16;
    b.length = 64;
    b.inputs.resize(16 * 64);
    b.targets.resize(16 * 64);
    for (std::size_t i = 0; i < b.inputs.size(); ++i) {
        b.inputs[i] = static_cast<unsigned char>(text[(i * 7) % text.size()]);
        b.targets[i] = static_cast<unsigned char>(text[(i * 7 + 1) % text.size()]);
    }
    pass_context ctx;
    ctx.threads = threads;
    double loss = 0.0;
    for (auto _ : state) {
        loss = lm_train_step(model, b, opt, ctx, mode);
        ++ctx.step;
    }
    if (!std::isfinite(loss)) state.SkipWithError("non-finite loss");
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 16 * 64);
    state.SetLabel(std::string(low ? "e4m3 SR backward, bf16 SR weights and moments" : "fp32") + ", " +
                   std::to_string(threads) + " thread(s), updates " + update_timing_name(mode.timing));
}
BENCHMARK(BM_gpt_step)
    ->Args({0, 1, 0})
    ->Args({0, 1, 1})
    ->Args({1, 1, 0})
    ->Args({1, 1, 1})
    ->Args({0, 2, 0})
    ->Args({0, 2, 1})
    ->Args({1, 2, 0})
    ->Args({1, 2, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
