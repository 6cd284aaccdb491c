// Checkpoints of a training run: every parameter in its storage format (the stored codes, never
// converted through float), its optimizer state (SGD velocity, AdamW's moments in their format
// and step count) and a run_state (the program's settings and counters: step, epoch, the
// sampler's position, running sums), in one versioned little-endian file with a CRC-32. A run
// restored from a checkpoint continues bit for bit as if it had never stopped, because every
// rounding draw is a pure function of (seed, step, layer, tensor, sample).
//
// The file (FBCK, version 1; every integer little-endian, a string is a uint32 length and its
// bytes):
//   "FBCK"; uint32 version = 1; uint64 body size in bytes;
//   body:
//     string configuration;
//     uint32 counter count, then each: string name, uint64 value;
//     uint32 sum count, then each: string name, float64 value (its bits);
//     uint32 parameter count, then each:
//       string name; uint64 layer id; uint64 stream key; uint64 rows; uint64 cols;
//       string storage (a format name, fp32 for float); uint32 bytes per value;
//       the stored values: rows * cols * bytes per value bytes;
//       uint64 velocity length (0 or rows * cols), then that many float32;
//       uint8 AdamW moments present (0 or 1); if 1: uint8 format (0 fp32, 1 bf16, 2 fp16),
//         uint64 steps, then m and v, rows * cols values each in that format;
//   uint32 CRC-32 (the checksum of zlib and gzip) of every byte before it.
//
// Writing is atomic: the file is written as PATH.partial in the same directory, synced, and
// renamed over PATH (then the directory is synced), so a crash at any moment leaves the old
// checkpoint or the new one, never a torn one. Two processes must not write the same PATH.
// Reading checks the size, magic, version, checksum and structure, then that the checkpoint
// belongs to this model (same parameters in the same order, shapes and storage formats),
// before it changes anything; every refusal is a checkpoint_error naming the file and the
// reason. Needs a POSIX system (open, fsync, rename).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <concepts>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fewbits/error.hpp"
#include "fewbits/nn/parameter.hpp"

namespace fewbits::io {

static_assert(std::endian::native == std::endian::little, "the checkpoint reader and writer assume a little-endian host");

// A checkpoint that cannot be written or read, or belongs to another model.
class checkpoint_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Everything of a run that its parameters do not hold.
struct run_state {
    // The run's settings as text (model, formats, rounding, learning rate, batch, seeds...):
    // a program that resumes compares it with its own and refuses another run's checkpoint.
    std::string configuration;
    // Named counters: the step, the epoch, the sampler's position, ...
    std::map<std::string, std::uint64_t> counters;
    // Named running sums a program reports at the end (e.g. an epoch's loss so far, the
    // seconds spent); not part of state_digest.
    std::map<std::string, double> sums;

    // The counter `name`; a checkpoint_error naming it when the checkpoint has none.
    std::uint64_t counter(const std::string& name) const
    {
        const auto it = counters.find(name);
        if (it == counters.end()) raise<checkpoint_error>("fewbits: the checkpoint has no counter '" + name + "'");
        return it->second;
    }
    double sum(const std::string& name) const
    {
        const auto it = sums.find(name);
        if (it == sums.end()) raise<checkpoint_error>("fewbits: the checkpoint has no sum '" + name + "'");
        return it->second;
    }
};

namespace detail {

inline constexpr char checkpoint_magic[4] = {'F', 'B', 'C', 'K'};
inline constexpr std::uint32_t checkpoint_version = 1;
inline constexpr std::size_t checkpoint_header_bytes = 4 + 4 + 8;

// memcpy of n bytes that may be 0: an empty vector's data() may be null, which memcpy forbids
// even for no bytes.
inline void copy_bytes(void* to, const void* from, std::size_t n) noexcept
{
    if (n > 0) std::memcpy(to, from, n);
}

// Collects the bytes of a checkpoint, or hashes or counts them without keeping them (a digest
// or the size of a large model's state costs no copy of it); with a sink, the kept bytes are
// handed to it in pieces of about a MiB (a checkpoint streamed to its file).
class byte_writer {
public:
    std::vector<std::byte> bytes;  // the kept bytes (since the last piece handed to the sink)
    bool keep = true;
    bool hash = true;
    std::uint64_t fnv1a = 0xCBF29CE484222325ull;  // FNV-1a 64 of every byte put (when hash)
    std::uint64_t size = 0;                       // bytes put
    std::function<void(std::span<const std::byte>)> sink;

    void put(std::span<const std::byte> b)
    {
        size += b.size();
        if (hash)
            for (std::byte x : b) {
                fnv1a ^= static_cast<std::uint8_t>(x);
                fnv1a *= 0x100000001B3ull;
            }
        if (!keep) return;
        bytes.insert(bytes.end(), b.begin(), b.end());
        if (sink && bytes.size() >= (std::size_t{1} << 20)) flush();
    }
    // Hands the kept bytes to the sink (if any).
    void flush()
    {
        if (!sink || bytes.empty()) return;
        sink(bytes);
        bytes.clear();
    }
    template <class T>
    void put_value(T v)
    {
        put(std::as_bytes(std::span(&v, 1)));
    }
    void put_string(const std::string& s)
    {
        put_value(static_cast<std::uint32_t>(s.size()));
        put(std::as_bytes(std::span(s.data(), s.size())));
    }
};

// Reads the body; any read past its end is a truncated or malformed checkpoint.
class byte_reader {
public:
    byte_reader(std::span<const std::byte> b, const std::string& path) : b_(b), path_(path) {}

    [[noreturn]] void fail(const std::string& why) const
    {
        raise<checkpoint_error>("fewbits: " + path_ + ": " + why);
    }
    std::span<const std::byte> take(std::size_t n, const char* what)
    {
        if (b_.size() - at_ < n)
            fail(std::string("malformed: ") + what + " needs " + std::to_string(n) + " bytes at byte " +
                 std::to_string(checkpoint_header_bytes + at_) + ", the body has " + std::to_string(b_.size() - at_) + " left");
        const auto out = b_.subspan(at_, n);
        at_ += n;
        return out;
    }
    template <class T>
    T value(const char* what)
    {
        T v;
        std::memcpy(&v, take(sizeof v, what).data(), sizeof v);
        return v;
    }
    std::string string(const char* what)
    {
        const auto n = value<std::uint32_t>(what);
        const auto s = take(n, what);
        return std::string(reinterpret_cast<const char*>(s.data()), s.size());
    }
    bool done() const noexcept { return at_ == b_.size(); }

private:
    std::span<const std::byte> b_;
    std::size_t at_ = 0;
    const std::string& path_;
};

// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320: the checksum of zlib, gzip and PNG),
// computed here so that checkpoints need no library.
inline constexpr auto crc32_table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1u) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        t[i] = c;
    }
    return t;
}();

// The CRC-32 of bytes given in pieces: state starts at 0xFFFFFFFF, the CRC is state ^ 0xFFFFFFFF.
inline std::uint32_t crc32_update(std::uint32_t state, std::span<const std::byte> b) noexcept
{
    for (std::byte x : b) state = crc32_table[(state ^ static_cast<std::uint8_t>(x)) & 0xFFu] ^ (state >> 8);
    return state;
}
inline std::uint32_t crc32_of(std::span<const std::byte> b) noexcept { return crc32_update(0xFFFFFFFFu, b) ^ 0xFFFFFFFFu; }

template <class Map>
void put_named(byte_writer& w, const Map& values)
{
    w.put_value(static_cast<std::uint32_t>(values.size()));
    for (const auto& [name, v] : values) {
        w.put_string(name);
        w.put_value(v);
    }
}

inline void put_parameters(byte_writer& w, std::span<nn::parameter* const> params)
{
    w.put_value(static_cast<std::uint32_t>(params.size()));
    for (const nn::parameter* p : params) {
        w.put_string(p->name());
        w.put_value(p->layer());
        w.put_value(p->key());
        w.put_value(static_cast<std::uint64_t>(p->rows()));
        w.put_value(static_cast<std::uint64_t>(p->cols()));
        w.put_string(p->storage_name());
        w.put_value(static_cast<std::uint32_t>(p->store().bytes_per_value()));
        w.put(p->store().raw());
        w.put_value(static_cast<std::uint64_t>(p->velocity.size()));
        w.put(std::as_bytes(std::span(p->velocity)));
        const bool has_moments = p->moments.size() > 0;
        w.put_value(static_cast<std::uint8_t>(has_moments));
        if (has_moments) {
            w.put_value(static_cast<std::uint8_t>(p->moments.format()));
            w.put_value(p->moments.steps);
            p->moments.visit([&](auto m, auto v) {
                w.put(std::as_bytes(m));
                w.put(std::as_bytes(v));
            });
        }
    }
}

// One parameter's state as read from a file, applied only once the whole file has been checked.
struct parameter_record {
    std::span<const std::byte> stored;
    std::vector<float> velocity;
    nn::adamw_moments moments;
};

[[noreturn]] inline void io_fail(const std::string& path, const std::string& what)
{
    raise<checkpoint_error>("fewbits: " + path + ": " + what + " (" + std::strerror(errno) + ")");
}

// A file written atomically (see the top of this header): written as PATH.partial, then synced
// and renamed by commit(); destroyed without commit (an exception on the way), the partial file
// is removed and PATH is left as it was.
class atomic_file {
public:
    explicit atomic_file(std::string path) : path_(std::move(path)), partial_(path_ + ".partial")
    {
        fd_ = ::open(partial_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd_ < 0) io_fail(partial_, "cannot create the checkpoint");
    }
    atomic_file(const atomic_file&) = delete;
    atomic_file& operator=(const atomic_file&) = delete;
    ~atomic_file()
    {
        if (fd_ >= 0) ::close(fd_);
        if (!committed_) ::unlink(partial_.c_str());
    }

    void write(std::span<const std::byte> bytes)
    {
        for (std::size_t at = 0; at < bytes.size();) {
            const ::ssize_t n = ::write(fd_, bytes.data() + at, bytes.size() - at);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) fail("cannot write the checkpoint");
            at += static_cast<std::size_t>(n);
        }
    }

    void commit()
    {
        if (::fsync(fd_) != 0) fail("cannot sync the checkpoint to disk");
        const int fd = fd_;
        fd_ = -1;
        if (::close(fd) != 0) io_fail(partial_, "cannot close the checkpoint");
        if (::rename(partial_.c_str(), path_.c_str()) != 0) {
            const int saved = errno;
            ::unlink(partial_.c_str());
            errno = saved;
            io_fail(path_, "cannot rename " + partial_ + " to it");
        }
        committed_ = true;
        // The rename itself is durable only once the directory is synced.
        std::string dir = std::filesystem::path(path_).parent_path().string();
        if (dir.empty()) dir = ".";
        const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) io_fail(dir, "cannot open the checkpoint's directory to sync it");
        const int synced = ::fsync(dfd);
        ::close(dfd);
        if (synced != 0) io_fail(dir, "cannot sync the checkpoint's directory");
    }

private:
    [[noreturn]] void fail(const char* what) const { io_fail(partial_, what); }  // the destructor cleans up

    std::string path_, partial_;
    int fd_ = -1;
    bool committed_ = false;
};

inline std::vector<std::byte> read_whole_file(const std::string& path)
{
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (!std::filesystem::exists(status)) raise<checkpoint_error>("fewbits: " + path + ": no such checkpoint file");
    if (!std::filesystem::is_regular_file(status)) raise<checkpoint_error>("fewbits: " + path + ": is not a regular file");
    std::ifstream in(path, std::ios::binary);
    if (!in) io_fail(path, "cannot open the checkpoint");
    std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) io_fail(path, "cannot read the checkpoint");
    const auto b = std::as_bytes(std::span(chars));
    return std::vector<std::byte>(b.begin(), b.end());
}

}  // namespace detail

// A 64-bit hash (FNV-1a) of every parameter's stored values and optimizer state and of the
// run's counters (its step, the sampler's position), as they are written to a checkpoint: equal
// for two runs that reached the same state. Not hashed: the configuration (a data path may
// differ between machines) and the sums (reported values, which may include wall-clock time).
inline std::uint64_t state_digest(std::span<nn::parameter* const> params, const run_state& state)
{
    detail::byte_writer w;
    w.keep = false;
    detail::put_named(w, state.counters);
    detail::put_parameters(w, params);
    return w.fnv1a;
}

// Writes the checkpoint of params and state to path, atomically (checkpoint_error on failure;
// an existing checkpoint at path is then left as it was). The file is streamed: writing it
// needs about a MiB beyond the state itself, not a second copy of the state.
inline void save_checkpoint(const std::string& path, std::span<nn::parameter* const> params, const run_state& state)
{
    const auto put_body = [&](detail::byte_writer& w) {
        w.put_string(state.configuration);
        detail::put_named(w, state.counters);
        detail::put_named(w, state.sums);
        detail::put_parameters(w, params);
    };
    detail::byte_writer counter;  // first the body's size, which the header holds
    counter.keep = counter.hash = false;
    put_body(counter);
    detail::atomic_file file(path);
    std::uint32_t crc = 0xFFFFFFFFu;
    detail::byte_writer w;
    w.hash = false;
    w.sink = [&](std::span<const std::byte> piece) {
        crc = detail::crc32_update(crc, piece);
        file.write(piece);
    };
    w.put(std::as_bytes(std::span(detail::checkpoint_magic)));
    w.put_value(detail::checkpoint_version);
    w.put_value(counter.size);
    put_body(w);
    w.flush();
    const std::uint32_t check = crc ^ 0xFFFFFFFFu;
    file.write(std::as_bytes(std::span(&check, 1)));
    file.commit();
}

// Restores params (stored values, velocity, AdamW moments) from the checkpoint at path and
// returns its run_state. The checkpoint must hold the same parameters in the same order, with
// the same names, layer ids, stream keys, shapes and storage formats, and every counter named
// in required_counters. Any problem is a checkpoint_error naming the file and the reason, and
// then no parameter has changed.
inline run_state load_checkpoint(const std::string& path, std::span<nn::parameter* const> params,
                                 std::span<const std::string_view> required_counters = {})
{
    const std::vector<std::byte> file = detail::read_whole_file(path);
    auto fail = [&](const std::string& why) { raise<checkpoint_error>("fewbits: " + path + ": " + why); };
    const std::size_t minimum = detail::checkpoint_header_bytes + 4;
    if (!std::equal(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(file.size(), 4)),
                    std::as_bytes(std::span(detail::checkpoint_magic)).begin()))
        fail("not a fewbits checkpoint (no FBCK magic at the start)");
    if (file.size() < minimum)
        fail("truncated: " + std::to_string(file.size()) + " bytes, a checkpoint has at least " + std::to_string(minimum));
    std::uint32_t version;
    std::memcpy(&version, file.data() + 4, 4);
    if (version != detail::checkpoint_version)
        fail("checkpoint version " + std::to_string(version) + ", this build reads version " +
             std::to_string(detail::checkpoint_version));
    std::uint64_t body_size;
    std::memcpy(&body_size, file.data() + 8, 8);
    const std::size_t body_have = file.size() - minimum;
    if (body_size > body_have)
        fail("truncated: " + std::to_string(file.size()) + " bytes, its header says " +
             std::to_string(body_size + minimum));
    if (body_size < body_have)
        fail(std::to_string(body_have - body_size) + " bytes after the end its header gives");
    std::uint32_t stored_crc;
    std::memcpy(&stored_crc, file.data() + file.size() - 4, 4);
    const std::uint32_t crc = detail::crc32_of(std::span(file).first(file.size() - 4));
    if (crc != stored_crc) fail("corrupted: the CRC-32 of its contents does not match the one stored in it");

    detail::byte_reader r{std::span(file).subspan(detail::checkpoint_header_bytes, body_size), path};
    run_state state;
    state.configuration = r.string("the configuration");
    for (auto n = r.value<std::uint32_t>("the counter count"); n > 0; --n) {
        std::string name = r.string("a counter name");
        state.counters[std::move(name)] = r.value<std::uint64_t>("a counter");
    }
    for (auto n = r.value<std::uint32_t>("the sum count"); n > 0; --n) {
        std::string name = r.string("a sum name");
        state.sums[std::move(name)] = r.value<double>("a sum");
    }
    const auto count = r.value<std::uint32_t>("the parameter count");
    if (count != params.size())
        fail("a checkpoint of another model: it holds " + std::to_string(count) + " parameters, this model has " +
             std::to_string(params.size()));
    std::vector<detail::parameter_record> records(count);
    for (std::size_t i = 0; i < count; ++i) {
        const nn::parameter& p = *params[i];
        const std::string name = r.string("a parameter name");
        const auto layer = r.value<std::uint64_t>("a layer id");
        const auto key = r.value<std::uint64_t>("a stream key");
        const auto rows = r.value<std::uint64_t>("a row count");
        const auto cols = r.value<std::uint64_t>("a column count");
        const std::string storage = r.string("a storage format");
        const auto bytes_per_value = r.value<std::uint32_t>("a value size");
        if (name != p.name() || layer != p.layer() || key != p.key() || rows != p.rows() ||
            cols != p.cols() || storage != p.storage_name() || bytes_per_value != p.store().bytes_per_value()) {
            // "w (layer 0) 4x6 stored as bf16", appended piece by piece.
            auto describe = [](std::string d, std::uint64_t in_layer, std::uint64_t n_rows, std::uint64_t n_cols,
                               const std::string& f) {
                d += " (layer ";
                d += std::to_string(in_layer);
                d += ") ";
                d += std::to_string(n_rows);
                d += 'x';
                d += std::to_string(n_cols);
                d += " stored as ";
                d += f;
                return d;
            };
            std::string why = "a checkpoint of another model or format: parameter " + std::to_string(i) + " is ";
            why += describe(p.name(), p.layer(), p.rows(), p.cols(), p.storage_name());
            why += " in this model and ";
            why += describe(name, layer, rows, cols, storage);
            why += " in the checkpoint";
            fail(why);
        }
        detail::parameter_record& rec = records[i];
        const std::size_t n = p.size();
        rec.stored = r.take(n * bytes_per_value, "the stored values");
        const auto velocity = r.value<std::uint64_t>("a velocity length");
        if (velocity != 0 && velocity != n)
            fail("malformed: parameter " + std::to_string(i) + " (" + name + ") has " + std::to_string(velocity) +
                 " velocity values, expected 0 or " + std::to_string(n));
        rec.velocity.resize(static_cast<std::size_t>(velocity));
        detail::copy_bytes(rec.velocity.data(), r.take(rec.velocity.size() * sizeof(float), "the velocity").data(),
                           rec.velocity.size() * sizeof(float));
        const auto has_moments = r.value<std::uint8_t>("the moments flag");
        if (has_moments > 1) fail("malformed: parameter " + std::to_string(i) + " has moments flag " + std::to_string(has_moments));
        if (has_moments == 1) {
            const auto format = r.value<std::uint8_t>("the moments format");
            if (format > static_cast<std::uint8_t>(nn::moment_format::fp16))
                fail("malformed: parameter " + std::to_string(i) + " has moments format " + std::to_string(format));
            rec.moments = nn::adamw_moments(static_cast<nn::moment_format>(format), n);
            rec.moments.steps = r.value<std::uint64_t>("the AdamW step count");
            rec.moments.visit([&](auto m, auto v) {
                const auto mb = std::as_writable_bytes(m), vb = std::as_writable_bytes(v);
                detail::copy_bytes(mb.data(), r.take(mb.size(), "the first moments").data(), mb.size());
                detail::copy_bytes(vb.data(), r.take(vb.size(), "the second moments").data(), vb.size());
            });
        }
    }
    if (!r.done()) fail("malformed: bytes left over after the last parameter");
    for (std::string_view name : required_counters)
        if (!state.counters.contains(std::string(name)))
            fail("not a checkpoint of this kind of run: it has no counter '" + std::string(name) + "'");

    for (std::size_t i = 0; i < count; ++i) {
        nn::parameter& p = *params[i];
        detail::parameter_record& rec = records[i];
        detail::copy_bytes(p.store().raw().data(), rec.stored.data(), rec.stored.size());
        p.velocity = std::move(rec.velocity);
        p.moments = std::move(rec.moments);
    }
    return state;
}

inline run_state load_checkpoint(const std::string& path, std::span<nn::parameter* const> params,
                                 std::initializer_list<std::string_view> required_counters)
{
    return load_checkpoint(path, params, std::span<const std::string_view>(required_counters.begin(), required_counters.size()));
}

// A model, to a checkpoint: its parameters() (std::vector<nn::parameter*>, in a fixed order)
// and, when it keeps counters of its own (the MLP its step), counters() returning them by name
// and set_counters(counters) taking them back. Every model offers this same interface, so
// saving a model never depends on which model it is.
template <class M>
concept checkpointable = requires(M& model) {
    { model.parameters() } -> std::convertible_to<std::vector<nn::parameter*>>;
};
template <class M>
concept has_counters = requires(M& model, const std::map<std::string, std::uint64_t>& c) {
    { std::as_const(model).counters() } -> std::convertible_to<std::map<std::string, std::uint64_t>>;
    model.set_counters(c);
};

namespace detail {
// state with the model's own counters added (they replace same-named counters of state).
template <checkpointable M>
run_state with_model_counters(const M& model, run_state state)
{
    if constexpr (has_counters<M>)
        for (const auto& [name, value] : model.counters()) state.counters[name] = value;
    return state;
}
}  // namespace detail

// The model's parameters and counters with state (save, load, digest as for a parameter list).
template <checkpointable M>
void save_checkpoint(const std::string& path, M& model, const run_state& state)
{
    save_checkpoint(path, model.parameters(), detail::with_model_counters(model, state));
}
// Loads into the model's parameters, and gives the model back its counters; the checkpoint must
// hold every counter the model keeps and every one named in required_counters.
template <checkpointable M>
run_state load_checkpoint(const std::string& path, M& model, std::initializer_list<std::string_view> required_counters = {})
{
    std::vector<std::string_view> required(required_counters);
    std::map<std::string, std::uint64_t> own;
    if constexpr (has_counters<M>) own = std::as_const(model).counters();
    for (const auto& entry : own) required.push_back(entry.first);
    run_state state = load_checkpoint(path, model.parameters(), required);
    if constexpr (has_counters<M>) {
        for (auto& [name, value] : own) value = state.counters.at(name);
        model.set_counters(own);
    }
    return state;
}
template <checkpointable M>
std::uint64_t state_digest(M& model, const run_state& state)
{
    return state_digest(model.parameters(), detail::with_model_counters(model, state));
}

}  // namespace fewbits::io
