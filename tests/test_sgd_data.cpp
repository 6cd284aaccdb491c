// The Fashion-MNIST loader (zlib): valid IDX files written to a temporary directory load
// exactly; truncated, corrupt, wrong-magic, count-mismatch and missing files each give a
// clear dataset_error; and the real data set loads when the Debian package is installed
// (otherwise that test says so and passes without checking: Catch2 v2 has no SKIP).
#include "fewbits_catch.hpp"

#include <zlib.h>

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <fewbits/data/fashion_mnist.hpp>
#include <fewbits/io/lm_state.hpp>
#include <fewbits/data/text_corpus.hpp>

namespace {

namespace fs = std::filesystem;
using namespace fewbits::data;
using namespace fewbits::io;

std::vector<unsigned char> be32(std::uint32_t v)
{
    return {static_cast<unsigned char>(v >> 24), static_cast<unsigned char>(v >> 16), static_cast<unsigned char>(v >> 8),
            static_cast<unsigned char>(v)};
}

std::vector<unsigned char> idx_images(std::uint32_t magic, std::uint32_t n, std::uint32_t rows, std::uint32_t cols)
{
    std::vector<unsigned char> b;
    for (auto v : {magic, n, rows, cols}) {
        const auto w = be32(v);
        b.insert(b.end(), w.begin(), w.end());
    }
    for (std::uint32_t i = 0; i < n * rows * cols; ++i) b.push_back(static_cast<unsigned char>(i * 37 % 256));
    return b;
}

std::vector<unsigned char> idx_labels(std::uint32_t magic, std::uint32_t n)
{
    std::vector<unsigned char> b;
    for (auto v : {magic, n}) {
        const auto w = be32(v);
        b.insert(b.end(), w.begin(), w.end());
    }
    for (std::uint32_t i = 0; i < n; ++i) b.push_back(static_cast<unsigned char>(i % 10));
    return b;
}

void write_gz(const fs::path& p, const std::vector<unsigned char>& content)
{
    gzFile f = gzopen(p.string().c_str(), "wb");
    REQUIRE(f != nullptr);
    REQUIRE(gzwrite(f, content.data(), static_cast<unsigned>(content.size())) == static_cast<int>(content.size()));
    REQUIRE(gzclose(f) == Z_OK);
}

std::vector<char> read_raw(const fs::path& p)
{
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_raw(const fs::path& p, const std::vector<char>& bytes)
{
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

struct temp_dir {
    fs::path path;
    temp_dir()
    {
        path = fs::temp_directory_path() / (std::string("fewbits_idx_") + std::to_string(::getpid()));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~temp_dir() { fs::remove_all(path); }
};

std::string load_error(const fs::path& images, const fs::path& labels)
{
    try {
        load_idx(images.string(), labels.string());
    } catch (const dataset_error& e) {
        return e.what();
    }
    return "(nothing thrown)";
}

#define CHECK_LOAD_ERROR(images, labels, fragment)           \
    do {                                                     \
        const std::string msg_ = load_error(images, labels); \
        INFO(msg_);                                          \
        CHECK(msg_.find(fragment) != std::string::npos);     \
        CHECK(msg_.rfind("fewbits: ", 0) == 0);              \
    } while (0)

}  // namespace

TEST_CASE("load_idx reads valid gzip IDX files exactly, pixels scaled to [0, 1]")
{
    temp_dir dir;
    const auto images = dir.path / "img.gz", labels = dir.path / "lab.gz";
    write_gz(images, idx_images(0x803, 5, 3, 4));
    write_gz(labels, idx_labels(0x801, 5));
    const dataset d = load_idx(images.string(), labels.string());
    REQUIRE(d.size() == 5);
    CHECK(d.inputs.cols() == 12);
    CHECK(d.classes == 10);
    for (std::uint32_t i = 0; i < 60; ++i) CHECK(d.inputs.data()[i] == static_cast<float>(i * 37 % 256) / 255.0f);
    CHECK(d.labels == std::vector<int>{0, 1, 2, 3, 4});
    CHECK(load_idx(images.string(), labels.string(), 2).size() == 2);
}

TEST_CASE("load_idx: truncated, corrupt, wrong magic, count mismatch and missing files give clear errors")
{
    temp_dir dir;
    const auto images = dir.path / "img.gz", labels = dir.path / "lab.gz";
    write_gz(images, idx_images(0x803, 50, 8, 8));
    write_gz(labels, idx_labels(0x801, 50));
    const auto good = read_raw(images);

    SECTION("gzip stream cut short")
    {
        write_raw(images, std::vector<char>(good.begin(), good.begin() + static_cast<long>(good.size() / 2)));
        CHECK_LOAD_ERROR(images, labels, "img.gz: truncated or corrupt gzip file");
    }
    SECTION("corrupt compressed data (CRC or deflate error)")
    {
        auto bad = good;
        for (std::size_t i = 20; i < bad.size() - 8; i += 7) bad[i] = static_cast<char>(bad[i] ^ 0x5A);
        write_raw(images, bad);
        const std::string msg = load_error(images, labels);
        INFO(msg);
        CHECK(msg.find("img.gz: ") != std::string::npos);
        CHECK(msg.find("corrupt") != std::string::npos);
    }
    SECTION("complete gzip file of an IDX file cut short")
    {
        auto content = idx_images(0x803, 50, 8, 8);
        content.resize(content.size() - 10);
        write_gz(images, content);
        CHECK_LOAD_ERROR(images, labels, "holds 3190 pixel bytes, expected 50 x 64 (truncated?)");
    }
    SECTION("wrong magic numbers")
    {
        write_gz(images, idx_images(0x801, 50, 8, 8));
        CHECK_LOAD_ERROR(images, labels, "img.gz: wrong magic number 0x00000801 (IDX images: 0x00000803)");
        write_gz(images, idx_images(0x803, 50, 8, 8));
        write_gz(labels, idx_labels(0x803, 50));
        CHECK_LOAD_ERROR(images, labels, "lab.gz: wrong magic number 0x00000803 (IDX labels: 0x00000801)");
    }
    SECTION("label and image counts differ")
    {
        write_gz(labels, idx_labels(0x801, 49));
        CHECK_LOAD_ERROR(images, labels, "50 images but");
        CHECK_LOAD_ERROR(images, labels, "has 49 labels");
    }
    SECTION("a label outside 0..9")
    {
        auto content = idx_labels(0x801, 50);
        content[8 + 17] = 12;
        write_gz(labels, content);
        CHECK_LOAD_ERROR(images, labels, "label 12 of sample 17 is outside 0..9");
    }
    SECTION("header too short")
    {
        write_gz(labels, {0, 0, 8});
        CHECK_LOAD_ERROR(images, labels, "too short for an IDX label header (3 bytes)");
    }
    SECTION("a missing file or a directory is named for what it is")
    {
        std::string msg = load_error(dir.path / "nope.gz", labels);
        INFO(msg);
        CHECK(msg.find("nope.gz: file not found") != std::string::npos);
        CHECK(msg.find("install") == std::string::npos);  // the user's own files: no package hint
        msg = load_error(dir.path, labels);
        CHECK(msg.find(": is a directory, not a file") != std::string::npos);
        CHECK_FALSE(fashion_mnist_available(dir.path.string()));
    }
    SECTION("load_fashion_mnist says how to install the data set, and what is wrong with the directory")
    {
        auto fm_error = [](const std::string& d) {
            try {
                (void)load_fashion_mnist(fashion_mnist_split::test, d);
            } catch (const dataset_error& e) {
                return std::string(e.what());
            }
            return std::string("no error");
        };
        std::string msg = fm_error(dir.path.string());
        INFO(msg);
        CHECK(msg.find("t10k-images-idx3-ubyte.gz: file not found; the Fashion-MNIST data set is not in") != std::string::npos);
        CHECK(msg.find("sudo apt-get install dataset-fashion-mnist") != std::string::npos);
        CHECK(msg.find("cmake/install-deps.sh --with-data") != std::string::npos);
        msg = fm_error((dir.path / "no_such_dir").string());
        CHECK(msg.find("no_such_dir: no such directory") != std::string::npos);
        msg = fm_error(images.string());
        CHECK(msg.find(": is not a directory") != std::string::npos);
    }
}

TEST_CASE("the real Fashion-MNIST test set loads: 10000 images of 28 x 28, 1000 of each class")
{
    if (!fashion_mnist_available()) {
        std::printf("SKIPPED: Fashion-MNIST not found in %s; %s\n", fashion_mnist_default_dir,
                    fashion_mnist_install_hint);
        return;
    }
    const dataset test = load_fashion_mnist(fashion_mnist_split::test);
    REQUIRE(test.size() == 10000);
    CHECK(test.inputs.cols() == 784);
    std::vector<int> per_class(10, 0);
    for (int l : test.labels) ++per_class[static_cast<std::size_t>(l)];
    CHECK(per_class == std::vector<int>(10, 1000));
    float lo = 1, hi = 0;
    for (float v : test.inputs.values()) lo = std::min(lo, v), hi = std::max(hi, v);
    CHECK(lo == 0.0f);
    CHECK(hi == 1.0f);
}

// ---- Text corpus (text_corpus.hpp) -----------------------------------------------------------

namespace {
const std::string jargon_sample = std::string(FEWBITS_TEST_DATA_DIR) + "/jargon_sample.txt.gz";

std::string corpus_error(const std::string& path)
{
    try {
        (void)load_jargon_file(path);
    } catch (const dataset_error& e) {
        return e.what();
    }
    return "(nothing thrown)";
}
}  // namespace

TEST_CASE("text corpus: the last 10% of the bytes is validation text, the rest training text")
{
    const text_corpus c = load_text_corpus(jargon_sample);
    const std::size_t total = c.train.size() + c.validation.size();
    CHECK(total == 91 + 16000);  // a 91-byte header line, then 16000 bytes of the File
    CHECK(c.train.size() == static_cast<std::size_t>(static_cast<double>(total) * 0.9));
    const std::string head(c.train.begin(), c.train.begin() + 29);
    CHECK(head == "An excerpt of the Jargon File");
    const text_corpus c2 = load_text_corpus(jargon_sample, 0.25);
    CHECK(c2.validation.size() == total - static_cast<std::size_t>(static_cast<double>(total) * 0.75));
    CHECK_THROWS_AS(load_text_corpus(jargon_sample, 1.0), std::invalid_argument);
    CHECK_THROWS_AS(load_text_corpus(jargon_sample, 0.0), std::invalid_argument);
}

TEST_CASE("text corpus: a missing Jargon File says how to install it, and bad files are named")
{
    temp_dir dir;
    std::string msg = corpus_error((dir.path / "jargon.txt.gz").string());
    INFO(msg);
    CHECK(msg.find("jargon.txt.gz: file not found; the Jargon File is missing") != std::string::npos);
    CHECK(msg.find("sudo apt-get install jargon-text") != std::string::npos);
    CHECK(msg.find("cmake/install-deps.sh --with-data") != std::string::npos);
    CHECK(corpus_error(dir.path.string()).find("is a directory, not a file") != std::string::npos);
    write_raw(dir.path / "tiny.txt", {'a', 'b', 'c'});
    CHECK(corpus_error((dir.path / "tiny.txt").string()).find("too few to split") != std::string::npos);
    const auto good = read_raw(jargon_sample);
    write_raw(dir.path / "cut.gz", std::vector<char>(good.begin(), good.begin() + 3000));
    CHECK(corpus_error((dir.path / "cut.gz").string()).find("truncated or corrupt gzip") != std::string::npos);
}

TEST_CASE("text windows: a batch is a pure function of (text, seed, step), and targets are the next bytes")
{
    const text_corpus c = load_text_corpus(jargon_sample);
    token_batch a, b, other_step, other_seed;
    sample_windows(c.train, 8, 64, 7, 3, a);
    sample_windows(c.train, 8, 64, 7, 3, b);
    sample_windows(c.train, 8, 64, 7, 4, other_step);
    sample_windows(c.train, 8, 64, 8, 3, other_seed);
    CHECK(a.inputs == b.inputs);
    CHECK(a.targets == b.targets);
    CHECK(a.inputs != other_step.inputs);
    CHECK(a.inputs != other_seed.inputs);
    REQUIRE(a.inputs.size() == 8 * 64);
    for (std::size_t s = 0; s < 8; ++s)
        for (std::size_t t = 0; t + 1 < 64; ++t) CHECK(a.targets[s * 64 + t] == a.inputs[s * 64 + t + 1]);
    // Every window is a piece of the text: find it.
    for (std::size_t s = 0; s < 8; ++s) {
        const std::string window(a.inputs.begin() + static_cast<long>(s * 64), a.inputs.begin() + static_cast<long>(s * 64 + 64));
        const std::string text(c.train.begin(), c.train.end());
        CHECK(text.find(window) != std::string::npos);
    }
    // Starts cover the whole range: the first and last possible windows both occur.
    const std::uint8_t tiny[5] = {1, 2, 3, 4, 5};
    bool first = false, last = false;
    for (std::uint64_t step = 0; step < 200; ++step) {
        sample_windows(tiny, 1, 3, 1, step, a);
        first |= a.inputs[0] == 1;
        last |= a.inputs[0] == 2 && a.targets[2] == 5;
        CHECK(a.inputs[0] <= 2);
    }
    CHECK(first);
    CHECK(last);
    CHECK_THROWS_AS(sample_windows(tiny, 1, 5, 1, 0, a), std::invalid_argument);
    CHECK_THROWS_AS(sample_windows(tiny, 0, 2, 1, 0, a), std::invalid_argument);
    CHECK_THROWS_AS(sample_windows(tiny, 1, 0, 1, 0, a), std::invalid_argument);
}

TEST_CASE("the real Jargon File loads: about 1.7 MB of English")
{
    if (!std::filesystem::is_regular_file(jargon_file_default_path)) {
        std::printf("SKIPPED: the Jargon File is not in %s; %s\n", jargon_file_default_path, jargon_file_install_hint);
        return;
    }
    const text_corpus c = load_jargon_file();
    CHECK(c.train.size() + c.validation.size() == 1681817);  // Debian's jargon-text 4.4.7
    CHECK(c.validation.size() == 1681817 - static_cast<std::size_t>(1681817 * 0.9));
}

// ---- FBLM state files (lm_state.hpp) ---------------------------------------------------------

TEST_CASE("FBLM: the PyTorch reference state reads back whole, and its loss is its logits' cross-entropy")
{
    const lm_state s = read_lm_state(std::string(FEWBITS_TEST_DATA_DIR) + "/gpt_reference.bin");
    CHECK(s.shape.vocab == 256);
    CHECK(s.shape.context == 8);
    CHECK(s.shape.channels == 16);
    CHECK(s.shape.heads == 2);
    CHECK(s.shape.layers == 2);
    CHECK(s.batch == 2);
    CHECK(s.length == 8);
    CHECK(s.parameters.size() == 10816);
    // The batch is the sample text at offsets 100 and 5000 (scripts/gpt_reference.py).
    const text_corpus c = load_text_corpus(jargon_sample, 0.5);
    std::vector<std::uint8_t> text(c.train.begin(), c.train.end());
    text.insert(text.end(), c.validation.begin(), c.validation.end());
    for (std::size_t b = 0; b < 2; ++b)
        for (std::size_t t = 0; t < 8; ++t) {
            const std::size_t at = (b == 0 ? 100 : 5000) + t;
            CHECK(s.inputs[b * 8 + t] == text[at]);
            CHECK(s.targets[b * 8 + t] == text[at + 1]);
        }
    // Mean cross-entropy of the stored logits, in double: the stored loss within float rounding.
    double sum = 0.0;
    for (std::size_t r = 0; r < 16; ++r) {
        const float* z = s.logits.data() + r * 256;
        double m = z[0];
        for (int v = 1; v < 256; ++v) m = std::max(m, double(z[v]));
        double e = 0.0;
        for (int v = 0; v < 256; ++v) e += std::exp(double(z[v]) - m);
        sum += m + std::log(e) - z[s.targets[r]];
    }
    CHECK(std::fabs(sum / 16 - s.loss) <= 1e-6 * s.loss);
    // GPT-2 initialisation: layer-norm weights 1 and biases 0 (lnf_w, lnf_b are the last 32).
    for (std::size_t i = 0; i < 16; ++i) {
        CHECK(s.parameters[s.parameters.size() - 32 + i] == 1.0f);
        CHECK(s.parameters[s.parameters.size() - 16 + i] == 0.0f);
    }
}

TEST_CASE("FBLM: write then read gives the same state, and bad files are refused with the reason")
{
    temp_dir dir;
    const lm_state s = read_lm_state(std::string(FEWBITS_TEST_DATA_DIR) + "/gpt_reference.bin");
    const std::string path = (dir.path / "state.bin").string();
    write_lm_state(path, s);
    const lm_state r = read_lm_state(path);
    CHECK(r.parameters == s.parameters);
    CHECK(r.gradients == s.gradients);
    CHECK(r.logits == s.logits);
    CHECK(r.inputs == s.inputs);
    CHECK(r.targets == s.targets);
    CHECK(r.loss == s.loss);

    auto error_of = [](const std::string& p) {
        try {
            (void)read_lm_state(p);
        } catch (const dataset_error& e) {
            return std::string(e.what());
        }
        return std::string("(nothing thrown)");
    };
    auto bytes = read_raw(path);
    write_raw(dir.path / "cut.bin", std::vector<char>(bytes.begin(), bytes.end() - 4));
    CHECK(error_of((dir.path / "cut.bin").string()).find("bytes, the shape in its header needs") != std::string::npos);
    auto wrong = bytes;
    wrong[0] = 'X';
    write_raw(dir.path / "magic.bin", wrong);
    CHECK(error_of((dir.path / "magic.bin").string()).find("wrong magic") != std::string::npos);
    wrong = bytes;
    wrong[4] = 2;
    write_raw(dir.path / "version.bin", wrong);
    CHECK(error_of((dir.path / "version.bin").string()).find("FBLM version 2") != std::string::npos);
    wrong = bytes;
    wrong[4 + 4 * 4] = 3;  // H = 3 does not divide C = 16
    write_raw(dir.path / "heads.bin", wrong);
    CHECK(error_of((dir.path / "heads.bin").string()).find("must be divisible by H (3)") != std::string::npos);

    lm_state bad = s;
    bad.logits.pop_back();
    CHECK_THROWS_AS(write_lm_state((dir.path / "bad.bin").string(), bad), std::invalid_argument);
    CHECK_FALSE(std::filesystem::exists(dir.path / "bad.bin"));
}
