// Checkpoints (fewbits/io/checkpoint.hpp): a storage of every width, the velocity and every AdamW moment
// format round-trip bit for bit (all codes, NaNs included); a run of the MLP and of the GPT
// saved, restored into a fresh model and continued ends bit-identical to the run that never
// stopped; every bad checkpoint (missing, truncated at any length, any byte changed, wrong
// magic or version, another model, shape or format, a missing counter) is refused with the
// file and the reason in the message and the model unchanged; a failed write leaves the old
// checkpoint as it was. The interruption test with real SIGKILLs is examples/checkpoint_kill.
#include "fewbits_catch.hpp"

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#if defined(FEWBITS_TEST_WITH_ZLIB)
#include <zlib.h>
#endif

#include <fewbits/format_names.hpp>
#include <fewbits/training.hpp>
#include <fewbits/io/checkpoint.hpp>

namespace {

using namespace fewbits::training;
using namespace fewbits::io;
namespace fs = std::filesystem;

// A fresh directory for this process's files, removed at exit.
struct scratch_dir {
    fs::path path = fs::temp_directory_path() / ("fewbits_test_checkpoint_" + std::to_string(::getpid()));
    scratch_dir()
    {
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~scratch_dir() { fs::remove_all(path); }
    std::string file(const std::string& name) const { return (path / name).string(); }
};

const scratch_dir& scratch()
{
    static const scratch_dir d;
    return d;
}

std::vector<std::byte> bytes_of(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto b = std::as_bytes(std::span(c));
    return {b.begin(), b.end()};
}

void write_bytes(const std::string& path, std::span<const std::byte> b)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

std::vector<std::uint32_t> words(std::size_t n, std::uint64_t seed)
{
    std::vector<std::uint32_t> w(n);
    fewbits::fill_random_words(fewbits::stream{seed}, w);
    return w;
}

// Fills every byte of p's storage, velocity and moments (of format f) with random bits.
void randomize(parameter& p, moment_format f, std::uint64_t seed)
{
    auto fill = [&](std::span<std::byte> b, std::uint64_t s) {
        const auto w = words(b.size(), s);
        for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::byte>(w[i]);
    };
    fill(p.store().raw(), seed);
    p.velocity.resize(p.size());
    fill(std::as_writable_bytes(std::span(p.velocity)), seed + 1);
    p.moments = adamw_moments(f, p.size());
    p.moments.steps = seed * 7 + 3;
    p.moments.visit([&](auto m, auto v) {
        fill(std::as_writable_bytes(m), seed + 2);
        fill(std::as_writable_bytes(v), seed + 3);
    });
}

std::vector<std::byte> moment_bytes(const parameter& p)
{
    std::vector<std::byte> out;
    p.moments.visit([&](auto m, auto v) {
        const auto mb = std::as_bytes(m), vb = std::as_bytes(v);
        out.insert(out.end(), mb.begin(), mb.end());
        out.insert(out.end(), vb.begin(), vb.end());
    });
    return out;
}

template <class Range>
bool same_bytes(const Range& a, const Range& b)
{
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

std::vector<parameter*> pointers(std::vector<parameter>& ps)
{
    std::vector<parameter*> out;
    for (auto& p : ps) out.push_back(&p);
    return out;
}

// One storage of each width a checkpoint can meet (4, 2 and 1 bytes per value, and a 4-bit
// format kept in a byte), with two formats of the same width so that a restore must tell them
// apart by name. A checkpoint copies a storage's raw bytes whatever the format, so these stand
// for the whole registry (instantiating the storages of all 14 names cost 40 s of this file's
// 60 s of compilation).
std::vector<weight_storage> storage_of_each_width()
{
    return {weight_storage::fp32(), weight_storage::stored_as<fewbits::bfloat16>(),
            weight_storage::stored_as<fewbits::float16>(), weight_storage::stored_as<fewbits::float8_e4m3fn>(),
            weight_storage::stored_as<fewbits::float4_e2m1fn>()};
}

}  // namespace

TEST_CASE("the checksum is the CRC-32 of zlib and gzip", "[checkpoint]")
{
    const std::string check = "123456789";  // the standard check input
    CHECK(fewbits::io::detail::crc32_of(std::as_bytes(std::span(check))) == 0xCBF43926u);
    CHECK(fewbits::io::detail::crc32_of({}) == 0u);
#if defined(FEWBITS_TEST_WITH_ZLIB)
    for (std::size_t n : {1u, 2u, 3u, 7u, 64u, 1000u, 4099u}) {
        const auto w = words(n, n);
        std::vector<std::byte> b(n);
        for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>(w[i] >> 13);
        INFO(n << " bytes");
        CHECK(fewbits::io::detail::crc32_of(b) ==
              static_cast<std::uint32_t>(crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(b.data()), static_cast<uInt>(n))));
    }
#endif
}

TEST_CASE("a storage of every width, and every velocity and moment format, round-trips bit for bit", "[checkpoint]")
{
    const std::string path = scratch().file("roundtrip.fbck");
    const auto storages = storage_of_each_width();
    for (moment_format f : {moment_format::fp32, moment_format::bf16, moment_format::fp16}) {
        std::vector<parameter> saved, loaded;
        for (std::size_t i = 0; i < storages.size(); ++i) {
            saved.emplace_back("p" + std::to_string(i), i, tensor_key("p" + std::to_string(i)), 3, 5 + i, storages[i]);
            randomize(saved.back(), f, 100 * i + static_cast<std::uint64_t>(f));
            loaded.emplace_back("p" + std::to_string(i), i, tensor_key("p" + std::to_string(i)), 3, 5 + i, storages[i]);
        }
        run_state state;
        state.configuration = "roundtrip";
        state.counters = {{"step", 12}, {"epoch", 3}};
        state.sums = {{"loss", -0.0}, {"tiny", 0x1p-1074}};
        save_checkpoint(path, pointers(saved), state);
        const run_state back = load_checkpoint(path, pointers(loaded));
        CHECK(back.configuration == state.configuration);
        CHECK(back.counters == state.counters);
        REQUIRE(back.sums.size() == 2);
        CHECK(std::bit_cast<std::uint64_t>(back.sums.at("loss")) == std::bit_cast<std::uint64_t>(-0.0));
        CHECK(back.sums.at("tiny") == 0x1p-1074);
        for (std::size_t i = 0; i < saved.size(); ++i) {
            INFO("storage " << storages[i].name << ", moments " << moment_format_name(f));
            CHECK(same_bytes(saved[i].store().raw(), loaded[i].store().raw()));
            CHECK(same_bytes(std::as_bytes(std::span(saved[i].velocity)), std::as_bytes(std::span(loaded[i].velocity))));
            CHECK(loaded[i].moments.format() == f);
            CHECK(loaded[i].moments.steps == saved[i].moments.steps);
            CHECK(same_bytes(moment_bytes(saved[i]), moment_bytes(loaded[i])));
            // value() is decoded from the restored storage.
            CHECK(same_bytes(std::as_bytes(saved[i].value().values()), std::as_bytes(loaded[i].value().values())));
        }
        CHECK(state_digest(pointers(saved), state) == state_digest(pointers(loaded), back));
    }
}

TEST_CASE("parameters without optimizer state round-trip, and the state digest sees every part", "[checkpoint]")
{
    const std::string path = scratch().file("plain.fbck");
    std::vector<parameter> a;
    a.emplace_back("w", 0, 1, 4, 4, weight_storage::stored_as<fewbits::bfloat16>());
    a.back().assign(std::vector<float>(16, 0.5f));
    std::vector<parameter> b = a;
    b.back().assign(std::vector<float>(16, 1.0f));
    run_state s;
    save_checkpoint(path, pointers(a), s);
    (void)load_checkpoint(path, pointers(b));
    CHECK(b.back().value().values()[7] == 0.5f);
    CHECK(b.back().velocity.empty());
    CHECK(b.back().moments.size() == 0);
    const std::uint64_t d = state_digest(pointers(a), s);
    CHECK(d == state_digest(pointers(b), s));
    // Each part changes the digest: a stored value, the velocity, the moments, a counter.
    std::vector<parameter> c = a;
    c.back().store().raw()[5] ^= std::byte{1};
    CHECK(state_digest(pointers(c), s) != d);
    c = a;
    c.back().velocity.assign(16, 0.0f);
    CHECK(state_digest(pointers(c), s) != d);
    c = a;
    c.back().moments = adamw_moments(moment_format::bf16, 16);
    CHECK(state_digest(pointers(c), s) != d);
    run_state t = s;
    t.counters["step"] = 1;
    CHECK(state_digest(pointers(a), t) != d);
    // Not state: the settings and the reported sums.
    t = s;
    t.configuration = "another machine's data path";
    t.sums["seconds"] = 12.5;
    CHECK(state_digest(pointers(a), t) == d);
}

namespace {

mlp_options small_mlp(bool low_precision)
{
    mlp_options o;
    o.sizes = {6, 12, 3};
    o.seed = 5;
    o.init_seed = 2;
    if (low_precision) {
        o.weights = weight_storage::stored_as<fewbits::bfloat16>();
        o.quantization = {linear_quantization::backward_only(
            quantizer::to<fewbits::float8_e4m3fn>({fewbits::rounding::stochastic}, scaling::power_of_two))};
    }
    return o;
}

template <class Optimizer>
std::uint64_t mlp_run(bool low_precision, const Optimizer& opt, std::uint64_t stop_after, const std::string& path)
{
    const dataset data = make_gaussian_mixture(96, 6, 3, 2.0f, 3);
    mlp model(small_mlp(low_precision));
    run_state state;
    std::uint64_t first = 0;
    if (stop_after == 0 && !path.empty()) {
        state = load_checkpoint(path, model);
        first = state.counter("epoch");
    }
    for (std::uint64_t epoch = first; epoch < 4; ++epoch) {
        const epoch_result r = train_epoch(model, data, opt, 16, 9, epoch);
        state.sums["loss"] = r.mean_loss;
        state.counters["epoch"] = epoch + 1;
        if (epoch + 1 == stop_after) {
            save_checkpoint(path, model, state);
            return 0;
        }
    }
    return state_digest(model, state);
}

}  // namespace

TEST_CASE("an MLP restored from a checkpoint continues bit for bit (SGD, momentum, AdamW, in FP32 and BF16 with SR)",
          "[checkpoint]")
{
    const std::string path = scratch().file("mlp.fbck");
    sgd_options momentum;
    momentum.lr = 0.05f;
    momentum.momentum = 0.9f;
    momentum.weight_decay = 1e-3f;
    momentum.update = {fewbits::rounding::stochastic};
    adamw_optimizer adamw;
    adamw.moments = moment_format::bf16;
    adamw.update = {fewbits::rounding::stochastic};
    for (bool low : {false, true}) {
        INFO((low ? "bf16 weights, e4m3 SR backward" : "fp32"));
        const std::uint64_t straight = mlp_run(low, momentum, 99, "");
        for (std::uint64_t stop : {1, 3}) {
            CHECK(mlp_run(low, momentum, stop, path) == 0);
            CHECK(mlp_run(low, momentum, 0, path) == straight);
        }
        const std::uint64_t straight_adamw = mlp_run(low, adamw, 99, "");
        CHECK(straight_adamw != straight);
        CHECK(mlp_run(low, adamw, 2, path) == 0);
        CHECK(mlp_run(low, adamw, 0, path) == straight_adamw);
    }
}

namespace {

gpt_options micro_gpt(bool low_precision)
{
    gpt_options o;
    o.context = 8;
    o.channels = 8;
    o.heads = 2;
    o.layers = 1;
    o.init_seed = 3;
    if (low_precision) {
        const quantizer e4m3 = quantizer::to<fewbits::float8_e4m3fn>({fewbits::rounding::stochastic}, scaling::power_of_two);
        o.quantization = linear_quantization::backward_only(e4m3);
        o.attention_backward = e4m3;
        o.weights = weight_storage::stored_as<fewbits::bfloat16>();
    }
    return o;
}

// Trains the micro GPT from step `from` (restored from path when from > 0) to `to`, saving at
// `to` when save is set; returns the state digest at `to`.
std::uint64_t gpt_run(bool low_precision, std::uint64_t from, std::uint64_t to, const std::string& path, bool save)
{
    std::vector<std::uint8_t> text(300);
    const auto w = words(text.size(), 17);
    for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<std::uint8_t>('a' + w[i] % 26);
    gpt model(micro_gpt(low_precision));
    adamw_optimizer opt;
    opt.options.lr = 1e-2f;
    if (low_precision) {
        opt.moments = moment_format::bf16;
        opt.update = {fewbits::rounding::stochastic};
    }
    run_state state;
    state.configuration = low_precision ? "micro gpt, bf16" : "micro gpt, fp32";
    if (from > 0) {
        state = load_checkpoint(path, model.parameters(), {"step"});
        REQUIRE(state.counter("step") == from);
    }
    pass_context ctx;
    ctx.seed = 11;
    token_batch b;
    for (std::uint64_t step = from; step < to; ++step) {
        ctx.step = step;
        sample_windows(text, 3, 8, 11, step, b);
        (void)model.compute_gradients(b.inputs, b.targets, b.sequences, ctx);
        for (parameter* p : model.parameters()) opt.step(*p, ctx.update_stream(*p));
    }
    state.counters["step"] = to;
    if (save) save_checkpoint(path, model.parameters(), state);
    return state_digest(model.parameters(), state);
}

}  // namespace

TEST_CASE("a GPT restored from a checkpoint continues bit for bit (FP32, and BF16 weights and moments with an E4M3 SR backward)",
          "[checkpoint]")
{
    const std::string path = scratch().file("gpt.fbck");
    for (bool low : {false, true}) {
        INFO((low ? "low precision" : "fp32"));
        const std::uint64_t straight = gpt_run(low, 0, 6, path, false);
        (void)gpt_run(low, 0, 2, path, true);
        (void)gpt_run(low, 2, 4, path, true);
        CHECK(gpt_run(low, 4, 6, path, false) == straight);
        // Not a test that cannot fail: one step fewer gives another state.
        CHECK(gpt_run(low, 4, 5, path, false) != straight);
    }
}

namespace {

struct small_model {
    std::vector<parameter> params;
    explicit small_model(const weight_storage& s = weight_storage::fp32(), std::size_t cols = 6)
    {
        params.emplace_back("w", 0, 1, 4, cols, s);
        params.emplace_back("b", 0, 2, 1, cols, s);
        for (auto& p : params) {
            std::vector<float> v(p.size());
            for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.25f * static_cast<float>(i);
            p.assign(v);
        }
        params[0].moments = adamw_moments(moment_format::fp16, params[0].size());
        params[0].moments.steps = 4;
    }
    std::vector<parameter*> ptrs() { return pointers(params); }
};

// Loading path into a fresh small_model fails with a message containing the path and `why`,
// and leaves the model as it was.
void check_refused(const std::string& path, const std::string& why, small_model m = small_model())
{
    const std::uint64_t before = state_digest(m.ptrs(), {});
    INFO("expected a refusal with '" << why << "'");
    try {
        (void)load_checkpoint(path, m.ptrs(), {"step"});
        FAIL("the checkpoint was accepted");
    } catch (const checkpoint_error& e) {
        const std::string msg = e.what();
        INFO("message: " << msg);
        CHECK(msg.find(path) != std::string::npos);
        CHECK(msg.find(why) != std::string::npos);
    }
    CHECK(state_digest(m.ptrs(), {}) == before);
}

}  // namespace

TEST_CASE("bad checkpoints are refused with the file and the reason, and change nothing", "[checkpoint]")
{
    const std::string good = scratch().file("good.fbck"), bad = scratch().file("bad.fbck");
    small_model saved;
    for (auto& p : saved.params) p.store().raw()[0] ^= std::byte{0x40};  // unlike a fresh small_model
    run_state st;
    st.configuration = "cfg";
    st.counters["step"] = 7;
    save_checkpoint(good, saved.ptrs(), st);
    const std::vector<std::byte> file = bytes_of(good);
    {
        small_model m;
        (void)load_checkpoint(good, m.ptrs(), {"step"});
        CHECK(state_digest(m.ptrs(), {}) == state_digest(saved.ptrs(), {}));
    }

    SECTION("missing, or a directory")
    {
        check_refused(scratch().file("no-such.fbck"), "no such checkpoint file");
        check_refused(scratch().path.string(), "is not a regular file");
    }
    SECTION("truncated at every length")
    {
        for (std::size_t n = 0; n < file.size(); ++n) {
            write_bytes(bad, std::span(file).first(n));
            check_refused(bad, "truncated");
        }
    }
    SECTION("any one byte changed")
    {
        for (std::size_t i = 0; i < file.size(); ++i) {
            std::vector<std::byte> f = file;
            f[i] ^= std::byte{0x10};
            write_bytes(bad, f);
            const char* why = i < 4 ? "no FBCK magic" : i < 8 ? "checkpoint version" : i < 16 ? "after the end" : "corrupted";
            // A body size that grew reads as truncated, one that shrank as bytes after the end.
            if (i >= 8 && i < 16) {
                std::uint64_t size;
                std::memcpy(&size, f.data() + 8, 8);
                if (size > file.size() - 20) why = "truncated";
            }
            check_refused(bad, why);
        }
    }
    SECTION("wrong magic and version")
    {
        std::vector<std::byte> f = file;
        std::memcpy(f.data(), "GZIP", 4);
        write_bytes(bad, f);
        check_refused(bad, "not a fewbits checkpoint");
        f = file;
        f[4] = std::byte{2};
        write_bytes(bad, f);
        check_refused(bad, "checkpoint version 2, this build reads version 1");
    }
    SECTION("another model: parameter count, shape, storage format")
    {
        std::vector<parameter> one;
        one.emplace_back("w", 0, 1, 4, 6, weight_storage::fp32());
        save_checkpoint(bad, pointers(one), st);
        check_refused(bad, "it holds 1 parameters, this model has 2");
        small_model wider(weight_storage::fp32(), 7);
        save_checkpoint(bad, wider.ptrs(), st);
        check_refused(bad, "parameter 0 is w (layer 0) 4x6 stored as fp32 in this model and w (layer 0) 4x7 stored as fp32");
        small_model bf16(weight_storage::stored_as<fewbits::bfloat16>());
        save_checkpoint(bad, bf16.ptrs(), st);
        check_refused(bad, "4x6 stored as bf16 in the checkpoint");
    }
    SECTION("a checkpoint without the counter the run needs")
    {
        run_state no_step;
        save_checkpoint(bad, saved.ptrs(), no_step);
        check_refused(bad, "it has no counter 'step'");
    }
}

TEST_CASE("a failed write leaves the previous checkpoint as it was", "[checkpoint]")
{
    const std::string path = scratch().file("kept.fbck");
    small_model m;
    run_state st;
    st.counters["step"] = 1;
    save_checkpoint(path, m.ptrs(), st);
    const std::vector<std::byte> before = bytes_of(path);
    // The temporary file cannot be created: a directory stands where it would go.
    fs::create_directory(path + ".partial");
    st.counters["step"] = 2;
    CHECK_THROWS_WITH(save_checkpoint(path, m.ptrs(), st), Catch::Contains(path + ".partial") && Catch::Contains("cannot create"));
    CHECK(same_bytes(bytes_of(path), before));
    fs::remove(path + ".partial");
    // A directory that does not exist.
    CHECK_THROWS_AS(save_checkpoint(scratch().file("no/such/dir/x.fbck"), m.ptrs(), st), checkpoint_error);
    // And a successful write replaces it and leaves no temporary file behind.
    save_checkpoint(path, m.ptrs(), st);
    CHECK(!fs::exists(path + ".partial"));
    CHECK(load_checkpoint(path, m.ptrs(), {"step"}).counter("step") == 2);
}
