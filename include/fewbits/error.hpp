// How errors leave fewbits, for the library and for code built on it (the training library, a
// user's own layers): one function raises every error, one builds every argument-error
// message, and numbers in messages are printed exactly.
//
// With exceptions (the default) an error throws: std::invalid_argument for a bad argument,
// whatever exception type the caller names otherwise. Builds without exceptions
// (-fno-exceptions) call the error handler with the message the exception would have
// carried, then std::abort() if the handler returns. The default handler prints the
// message to stderr. A handler may end the program its own way (exit code, longjmp to a
// recovery point); nothing that the failing call would have written has been written.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>

#include "fewbits/config.hpp"

namespace fewbits {

using error_handler = void (*)(const char* message);

namespace detail {
inline error_handler& error_handler_slot() noexcept
{
    static error_handler handler = nullptr;
    return handler;
}
}  // namespace detail

// Sets the handler (nullptr: the default) and returns the previous one. Ignored when
// exceptions are on.
inline error_handler set_error_handler(error_handler handler) noexcept
{
    const error_handler previous = detail::error_handler_slot();
    detail::error_handler_slot() = handler;
    return previous;
}

// Throws E(args...), or without exceptions reports E's message and aborts: the one place
// that knows how errors leave fewbits.
template <class E, class... Args>
[[noreturn]] void raise(Args&&... args)
{
#if FEWBITS_EXCEPTIONS
    throw E(static_cast<Args&&>(args)...);
#else
    const E error(static_cast<Args&&>(args)...);
    if (const error_handler handler = detail::error_handler_slot()) {
        handler(error.what());
    } else {
        std::fputs(error.what(), stderr);
        std::fputc('\n', stderr);
    }
    std::abort();
#endif
}

// std::invalid_argument("fewbits: " + message). The message names the argument and the
// offending value.
[[noreturn]] inline void raise_invalid_argument(const std::string& message)
{
    raise<std::invalid_argument>("fewbits: " + message);
}

// Raises unless two sizes agree: "out.size() (3) must equal in.size() (4)".
inline void require_same_size(std::size_t a, const char* a_name, std::size_t b, const char* b_name)
{
    if (a != b)
        raise_invalid_argument(std::string(b_name) + ".size() (" + std::to_string(b) + ") must equal " + a_name +
                               ".size() (" + std::to_string(a) + ")");
}

// The shortest decimal that reads back as exactly x ("-1e-10", "0.1", "nan", "inf"), for
// messages: std::to_string's fixed six decimals print -1e-10 as "-0.000000".
template <class T>
    requires(std::is_floating_point_v<T>)
std::string exact_string(T x)
{
    char buffer[64];
    const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, x);
    return ec == std::errc{} ? std::string(buffer, end) : std::string("?");
}

}  // namespace fewbits
