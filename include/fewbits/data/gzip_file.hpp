// Reading whole gzip-compressed data files (a plain file is read as it is, like zcat -f),
// and the error every data loader raises: dataset_error, a std::runtime_error whose message
// starts with "fewbits:", names the file and says what is wrong with it (no such file, a
// directory, unreadable, corrupt or truncated gzip data). Needs zlib (link ZLIB::ZLIB).
#pragma once

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "fewbits/error.hpp"

namespace fewbits::data {

class dataset_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Raises dataset_error "fewbits: PATH: WHAT".
[[noreturn]] inline void dataset_fail(const std::string& path, const std::string& what)
{
    fewbits::raise<dataset_error>("fewbits: " + path + ": " + what);
}

// The whole decompressed content of a gzip file (a plain file is read as it is, like zcat -f).
// if_missing is added to the message when the file does not exist.
inline std::vector<unsigned char> read_gzip(const std::string& path, const std::string& if_missing = "")
{
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (!std::filesystem::exists(status))
        dataset_fail(path, "file not found" + (if_missing.empty() ? std::string() : "; " + if_missing));
    if (std::filesystem::is_directory(status)) dataset_fail(path, "is a directory, not a file");
    if (!std::filesystem::is_regular_file(status)) dataset_fail(path, "is not a regular file");
    gzFile f = gzopen(path.c_str(), "rb");
    if (f == nullptr) dataset_fail(path, std::string("cannot open (") + std::strerror(errno) + ")");
    std::vector<unsigned char> out;
    unsigned char buf[1 << 16];
    for (;;) {
        const int got = gzread(f, buf, sizeof buf);
        if (got < 0) {
            int code = 0;
            const std::string msg = gzerror(f, &code);
            gzclose(f);
            dataset_fail(path, "corrupt gzip data (" + msg + ")");
        }
        if (got == 0) break;
        out.insert(out.end(), buf, buf + got);
    }
    int code = 0;
    const std::string msg = gzerror(f, &code);
    const int closed = gzclose(f);
    // A gzip stream cut short reads as a short file with Z_BUF_ERROR ("unexpected end of file").
    if (code != Z_OK || closed != Z_OK)
        dataset_fail(path, "truncated or corrupt gzip file (" + (code != Z_OK ? msg : std::string("gzclose failed")) + ")");
    return out;
}

}  // namespace fewbits::data
