// Data-parallel shards (train/shard_tree.hpp, train/shard_exchange.hpp, lm_step.hpp's shards)
// without MPI: P threads, each a process with its own copy of the model, exchange through an
// in-process communicator. The tree sum and the GPT's sharded step give the same bits for
// every P in 1..S; a sum in rank order (what MPI_Allreduce does) does not. The same with
// mpirun is tested by tests/mpi_same_bits.sh.
#include "fewbits_catch.hpp"
#include "shard_values.hpp"

#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fewbits/training.hpp>
#include <fewbits/io/checkpoint.hpp>

namespace {

using namespace fewbits::training;

// The processes of one in-process group: a collective posts this thread's blocks, waits for all,
// reads what is addressed to it, and waits again before anyone may post the next ones.
class thread_group {
public:
    explicit thread_group(std::size_t n) : blocks_(n), offsets_(n), sync_(static_cast<std::ptrdiff_t>(n)) {}

    class member final : public communicator {
    public:
        member(thread_group& g, std::size_t rank) : g_(g), rank_(rank) {}
        std::size_t rank() const override { return rank_; }
        std::size_t size() const override { return g_.blocks_.size(); }
        void all_gather(std::span<const std::byte> mine, std::span<const std::size_t> counts,
                        std::span<std::byte> out) override
        {
            (void)counts;  // all_gather_values checked them against mine
            g_.blocks_[rank_].assign(mine.begin(), mine.end());
            g_.sync_.arrive_and_wait();
            auto at = out.begin();
            for (const auto& block : g_.blocks_) at = std::copy(block.begin(), block.end(), at);
            g_.sync_.arrive_and_wait();
        }
        void all_to_all(std::span<const std::byte> send, std::span<const std::size_t> send_counts,
                        std::span<std::byte> recv, std::span<const std::size_t> recv_counts) override
        {
            // Every process posts all it sends with the offsets of its blocks; each reads its block from each.
            g_.blocks_[rank_].assign(send.begin(), send.end());
            g_.offsets_[rank_].assign(send_counts.size() + 1, 0);
            for (std::size_t q = 0; q < send_counts.size(); ++q)
                g_.offsets_[rank_][q + 1] = g_.offsets_[rank_][q] + send_counts[q];
            g_.sync_.arrive_and_wait();
            auto at = recv.begin();
            for (std::size_t r = 0; r < size(); ++r) {
                const auto& block = g_.blocks_[r];
                const std::size_t from = g_.offsets_[r][rank_], to = g_.offsets_[r][rank_ + 1];
                if (to - from != recv_counts[r]) g_.mismatches_ += 1;
                at = std::copy(block.begin() + static_cast<std::ptrdiff_t>(from),
                               block.begin() + static_cast<std::ptrdiff_t>(to), at);
            }
            g_.sync_.arrive_and_wait();
        }

    private:
        thread_group& g_;
        std::size_t rank_;
    };

    // Runs body(communicator) on one thread per process (one process: on this thread).
    void run(const std::function<void(communicator&)>& body)
    {
        if (blocks_.size() == 1) {
            member alone(*this, 0);
            body(alone);
            return;
        }
        std::vector<std::thread> threads;
        for (std::size_t r = 0; r < blocks_.size(); ++r)
            threads.emplace_back([this, r, &body] {
                member m(*this, r);
                body(m);
            });
        for (std::thread& t : threads) t.join();
        CHECK(mismatches_ == 0);  // what a process received is what was sent to it
    }

private:
    std::vector<std::vector<std::byte>> blocks_;
    std::vector<std::vector<std::size_t>> offsets_;
    std::atomic<int> mismatches_{0};
    std::barrier<> sync_;
};

// The most processes to compare with one: n, or 1 under FEWBITS_TEST_ONE_THREAD (set by the build
// for tests run under an emulator, where qemu-user hangs in std::thread), which says so.
std::size_t most_processes(std::size_t n)
{
    static const bool one = [] {
        const bool set = std::getenv("FEWBITS_TEST_ONE_THREAD") != nullptr;
        if (set) std::printf("FEWBITS_TEST_ONE_THREAD is set: the shards' sums run as 1 process only\n");
        return set;
    }();
    return one ? 1 : n;
}

std::vector<float> tree_sum_over(std::size_t processes, std::size_t shards, std::size_t n)
{
    std::vector<std::vector<float>> results(processes);
    thread_group(processes).run(
        [&](communicator& c) { results[c.rank()] = sum_shards<float>(c, shards, n, fewbits_test::shard_values); });
    for (const auto& r : results) CHECK(r == results[0]);  // the same bits on every process
    return results[0];
}

// What a plain data-parallel trainer does: each process sums its shards in order, then the
// processes' sums are added in rank order.
std::vector<float> rank_order_sum(std::size_t processes, std::size_t shards, std::size_t n)
{
    std::vector<float> total(n, 0.0f), local(n), one(n);
    for (std::size_t r = 0; r < processes; ++r) {
        const shard_span range = shard_range(shards, processes, r);
        std::fill(local.begin(), local.end(), 0.0f);
        for (std::size_t k = range.begin; k < range.end; ++k) {
            fewbits_test::shard_values(k, one);
            for (std::size_t i = 0; i < n; ++i) local[i] += one[i];
        }
        for (std::size_t i = 0; i < n; ++i) total[i] += local[i];
    }
    return total;
}

// A GPT small enough to train on 4 threads in a blink.
gpt_options one_layer_gpt()
{
    gpt_options m;
    m.context = 8;
    m.channels = 16;
    m.heads = 2;
    m.layers = 1;
    return m;
}

}  // namespace

TEST_CASE("shards: the ranges of P processes cover the S shards in order, and P > S is refused")
{
    for (std::size_t s = 1; s <= 13; ++s)
        for (std::size_t p = 1; p <= s; ++p) {
            std::size_t next = 0;
            for (std::size_t r = 0; r < p; ++r) {
                const shard_span range = shard_range(s, p, r);
                CHECK(range.begin == next);
                CHECK(range.size() >= s / p);
                CHECK(range.size() <= s / p + 1);
                std::size_t covered = range.begin;
                for (const shard_span node : covering_nodes(s, range)) {
                    CHECK(node.begin == covered);
                    covered = node.end;
                }
                CHECK(covered == range.end);
                next = range.end;
            }
            CHECK(next == s);
        }
    CHECK(covering_nodes(12, shard_range(12, 3, 1)) == std::vector<shard_span>{{4, 8}});
    CHECK(covering_nodes(12, shard_range(12, 2, 0)) == std::vector<shard_span>{{0, 4}, {4, 6}});
    // Bytes sent for n = 1200 floats: nothing alone; a ring allreduce's 2 (P - 1) 4n when every
    // range is one node (12 over 3, 16 over 4); more when a range takes 2 nodes (12 over 4).
    // BF16 sends half; E4M3 a byte a value and a byte per block of 32 (slices of whole blocks).
    using fp32 = plain_codec<float>;
    CHECK(shard_exchange_bytes<fp32>(12, 1, 1200) == 0);
    CHECK(shard_exchange_bytes<fp32>(12, 3, 1200) == 4 * 2 * 2 * 1200);
    CHECK(shard_exchange_bytes<fp32>(16, 4, 1200) == 4 * 2 * 3 * 1200);
    CHECK(shard_exchange_bytes<fp32>(12, 4, 1200) == 4 * 4 * (2 * 900 + 3 * 300));
    CHECK(shard_exchange_bytes<bf16_sr_codec>(12, 4, 1200) == 2 * 4 * (2 * 900 + 3 * 300));
    CHECK(shard_exchange_bytes<e4m3_block_sr_codec>(12, 3, 1280) == 2 * 2 * (1280 + 40));
    CHECK_THROWS_WITH(shard_range(2, 3, 0), Catch::Contains(
                                                "3 processes need at least as many shards, got shards = 2"));
    CHECK_THROWS_WITH(shard_range(4, 2, 2), Catch::Contains("rank (2) must be below processes (2)"));
}

TEST_CASE("shards: the tree sum has the same bits for every process count, a rank-order sum other bits")
{
    const std::size_t n = 1000;
    for (const std::size_t s : {1u, 3u, 8u, 12u}) {
        INFO("shards " << s);
        const std::vector<float> one = tree_sum_over(1, s, n);
        for (std::size_t p = 2; p <= s && p <= most_processes(4); ++p) CHECK(tree_sum_over(p, s, n) == one);
    }
    // The check can fail: added in rank order, the same 12 shards give other bits for P = 2, 3, 4.
    const std::vector<float> alone = rank_order_sum(1, 12, n);
    for (std::size_t p = 2; p <= 4; ++p) CHECK(rank_order_sum(p, 12, n) != alone);
}

TEST_CASE("shards: the GPT's sharded step ends in the same state for 1 to 4 processes, with every exchange format")
{
    gpt_options m = one_layer_gpt();
    m.quantization = linear_quantization::backward_only(
        quantizer::to<fewbits::float8_e4m3fn>({fewbits::rounding::stochastic}, scaling::power_of_two));
    const std::string text = "The quick brown fox jumps over the lazy dog, again and again and again.";
    const std::vector<std::uint8_t> bytes(text.begin(), text.end());
    lm_step_options s;
    s.shards = 4;
    s.clip_grad_norm = 0.5f;
    auto train = [&](std::size_t processes, exchange_format exchange) {
        s.exchange = exchange;
        std::vector<std::uint64_t> digests(processes);
        std::vector<double> losses(processes);
        thread_group(processes).run([&](communicator& c) {
            gpt model(m);
            adamw_optimizer opt;
            opt.options.lr = 0.01f;
            token_batch b;
            for (std::uint64_t step = 0; step < 3; ++step) {
                pass_context ctx;
                ctx.seed = 5;
                ctx.step = step;
                sample_windows(bytes, 8, 8, 4, step, b);
                losses[c.rank()] = lm_train_step(model, b, opt, ctx, s, nullptr, &c);
            }
            digests[c.rank()] = fewbits::io::state_digest(model.parameters(), fewbits::io::run_state{});
        });
        for (std::size_t r = 1; r < processes; ++r) {
            CHECK(digests[r] == digests[0]);
            CHECK(losses[r] == losses[0]);
        }
        return digests[0];
    };
    const exchange_format every[] = {exchange_format::fp32, exchange_format::bf16_sr, exchange_format::e4m3_sr,
                                     exchange_format::e4m3_rtn, exchange_format::e5m2_sr};
    for (const exchange_format exchange : every) {
        INFO("exchange " << exchange_format_name(exchange));
        const std::uint64_t one = train(1, exchange);
        for (std::size_t p = 2; p <= most_processes(4); ++p) CHECK(train(p, exchange) == one);
    }
    // The rounded exchanges round: they end elsewhere than FP32.
    const std::uint64_t fp32 = train(1, exchange_format::fp32);
    CHECK(train(1, exchange_format::bf16_sr) != fp32);
    CHECK(train(1, exchange_format::e4m3_sr) != fp32);
    CHECK(train(1, exchange_format::e4m3_rtn) != fp32);
    CHECK(train(1, exchange_format::e5m2_sr) != fp32);
    CHECK(train(1, exchange_format::e4m3_rtn) != train(1, exchange_format::e4m3_sr));
}

TEST_CASE("shards: the MLP's sharded step ends in the same state for 1 to 4 processes")
{
    // 64 samples of a 6-4-3 classification: Gaussian inputs, labels from their first features.
    dataset data;
    data.inputs.resize(64, 6);
    data.labels.resize(64);
    data.classes = 3;
    for (std::size_t r = 0; r < 64; ++r) {
        for (std::size_t c = 0; c < 6; ++c)
            data.inputs.row(r)[c] = std::sin(0.7f * static_cast<float>(r * 6 + c + 1));
        data.labels[r] = static_cast<int>(r % 3);
    }
    mlp_options m;
    m.sizes = {6, 4, 3};
    m.quantization = {linear_quantization::backward_only(
        quantizer::to<fewbits::float8_e4m3fn>({fewbits::rounding::stochastic}, scaling::power_of_two))};
    sgd_options opt;
    opt.lr = 0.1f;
    auto train = [&](std::size_t processes, std::size_t shards, exchange_format exchange) {
        std::vector<std::uint64_t> digests(processes);
        std::vector<double> losses(processes);
        thread_group(processes).run([&](communicator& c) {
            mlp model(m);
            batch b;
            for (std::size_t step = 0; step < 4; ++step) {
                std::vector<std::size_t> idx(16);
                std::iota(idx.begin(), idx.end(), step * 16);
                gather(data, idx, b);
                losses[c.rank()] = shards == 0 ? model.train_step(b, opt).sum
                                               : mlp_sharded_step(model, b, opt, shards, exchange, c).sum;
            }
            digests[c.rank()] = fewbits::io::state_digest(model.parameters(), fewbits::io::run_state{});
        });
        for (std::size_t r = 1; r < processes; ++r) {
            CHECK(digests[r] == digests[0]);
            CHECK(losses[r] == losses[0]);
        }
        return digests[0];
    };
    for (const exchange_format exchange : {exchange_format::fp32, exchange_format::e4m3_sr}) {
        INFO("exchange " << exchange_format_name(exchange));
        const std::uint64_t one = train(1, 4, exchange);
        for (std::size_t p = 2; p <= most_processes(4); ++p) CHECK(train(p, 4, exchange) == one);
    }
    // The exchange is the one of the step: E4M3 SR ends elsewhere than FP32. (In FP32 these 4
    // shards of 4 samples happen to end in the bits of the step without shards, measured; so
    // that comparison could not fail here.)
    CHECK(train(1, 4, exchange_format::e4m3_sr) != train(1, 4, exchange_format::fp32));

    // A batch that the shards do not divide is refused before any update.
    mlp model(m);
    const std::vector<float> before = model.flat_parameters();
    batch b;
    const std::vector<std::size_t> six = {0, 1, 2, 3, 4, 5};
    gather(data, six, b);
    single_process alone;
    CHECK_THROWS_WITH(mlp_sharded_step(model, b, opt, 4, exchange_format::fp32, alone),
                      Catch::Contains("shards (4) must divide the batch's samples (6)"));
    CHECK(model.flat_parameters() == before);
    CHECK(model.step() == 0);
}

TEST_CASE("shards: the rounding codecs send every value they round exactly, SR is unbiased, nearest-even the nearest")
{
    // Gradient-sized values in one binade, [1, 2) x 2^-20: three whole blocks of 32 and a tail of 4.
    const std::size_t n = 100;
    std::vector<float> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = std::ldexp(1.0f + std::fmod(0.6180339887f * float(i + 1), 1.0f), -20);
    // relative_step: the largest gap between neighbours of the format at these values relative
    // to the value: BF16 2^-7; E4M3 2^-3 and E5M2 2^-2 (the block's scale puts [1, 2) x 2^-20
    // among their normals, 3 and 2 mantissa bits).
    auto lossless = [&](const auto& codec) {
        std::vector<float> rounded = x, back(n);
        codec.round(shard_span{0, 2}, 0, rounded);
        std::vector<std::byte> bytes(codec.bytes(n));
        codec.encode(rounded, bytes);
        codec.decode(bytes, back);
        CHECK(back == rounded);
        std::vector<float> again = rounded;
        codec.round(shard_span{5, 6}, 0, again);  // a rounded value rounds to itself
        CHECK(again == rounded);
        return rounded;
    };
    auto unbiased = [&](const auto& codec, double relative_step) {
        lossless(codec);
        // Unbiased: over 2000 nodes' roundings the mean is the value within 5 standard errors
        // (an SR draw's standard deviation is at most half the step).
        const int draws = 2000;
        std::vector<double> sum(n, 0.0);
        for (int d = 0; d < draws; ++d) {
            std::vector<float> r = x;
            codec.round(shard_span{static_cast<std::size_t>(d), static_cast<std::size_t>(d) + 1}, 0, r);
            for (std::size_t i = 0; i < n; ++i) sum[i] += r[i];
        }
        std::size_t outside = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const double se = relative_step * x[i] / 2.0 / std::sqrt(double(draws));
            if (std::abs(sum[i] / draws - x[i]) > 5.0 * se) ++outside;
        }
        CHECK(outside == 0);
    };
    unbiased(bf16_sr_codec(fewbits::stream{11}), std::ldexp(1.0, -7));
    unbiased(e4m3_block_sr_codec(fewbits::stream{12}), std::ldexp(1.0, -3));
    unbiased(e5m2_block_sr_codec(fewbits::stream{13}), std::ldexp(1.0, -2));
    // Nearest-even: within half a step of the value, and the same for every node and words.
    const std::vector<float> nearest = lossless(e4m3_block_rtn_codec(fewbits::stream{14}));
    std::size_t far = 0;
    for (std::size_t i = 0; i < n; ++i)
        if (std::abs(double(nearest[i]) - x[i]) > std::ldexp(1.0, -3) * x[i] / 2.0) ++far;
    CHECK(far == 0);
    std::vector<float> elsewhere = x;
    e4m3_block_rtn_codec(fewbits::stream{15}).round(shard_span{3, 7}, 32, elsewhere);
    CHECK(elsewhere == nearest);
}

TEST_CASE("shards: options that do not fit are refused, naming them")
{
    lm_step_options s;
    s.shards = 2;
    s.accumulate = 2;
    CHECK_THROWS_WITH(s.validate(), Catch::Contains("shards (2) and accumulate (2) both cut the batch"));
    s.accumulate = 1;
    s.timing = update_timing::in_backward;
    CHECK_THROWS_WITH(s.validate(), Catch::Contains("use timing = after_backward"));
    s.timing = update_timing::after_backward;
    s.shards = 0;
    CHECK_THROWS_WITH(s.validate(), Catch::Contains("shards must be at least 1, got 0"));
    s.shards = 1;
    s.exchange = exchange_format::bf16_sr;
    CHECK_THROWS_WITH(s.validate(), Catch::Contains("needs shards > 1, got shards = 1"));
    s.exchange = exchange_format::fp32;

    gpt model(one_layer_gpt());
    adamw_optimizer opt;
    const std::string text = "The quick brown fox jumps over the lazy dog.";
    const std::vector<std::uint8_t> bytes(text.begin(), text.end());
    token_batch b;
    sample_windows(bytes, 6, 8, 1, 0, b);
    s.shards = 4;
    CHECK_THROWS_WITH(lm_train_step(model, b, opt, pass_context{}, s),
                      Catch::Contains("shards (4) must divide the batch's sequences (6)"));
    s.shards = 1;
    if (most_processes(2) < 2) return;
    std::vector<std::string> errors(2);
    thread_group(2).run([&](communicator& c) {
        try {
            (void)lm_train_step(model, b, opt, pass_context{}, s, nullptr, &c);
        } catch (const std::invalid_argument& e) {
            errors[c.rank()] = e.what();
        }
    });
    for (const std::string& e : errors) CHECK_THAT(e, Catch::Contains("2 processes need at least as many shards, got shards = 1"));
}
