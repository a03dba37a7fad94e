// Error codes of the agents module. Errors reuse memory::error_info (a code plus a message that
// names the offending field or file), so a runtime handles one error type for both modules.
#pragma once

#include <string>
#include <type_traits>
#include <utility>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <engram/memory/error.hpp>

namespace engram::agents {

/// Failure conditions of the agents module. Values are stable; 0 is never used.
enum class errc {
    invalid_agent = 1,      ///< An agent definition failed validation (the message names the field).
    agent_file_unreadable,  ///< An agent file could not be opened or read (the message names the file).
    agent_file_syntax,  ///< An agent file is not valid JSON (the message names the file, line and column).
};

/// The category of #errc, named "engram.agents".
const boost::system::error_category& agents_category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), agents_category()};
}

/// Same shape as the memory module's errors: the code plus a message naming the field or file.
using error_info = memory::error_info;

/// Builds an error_info from an agents error code and message.
inline error_info make_error(errc e, std::string message) {
    return {make_error_code(e), std::move(message)};
}

/// Result type of every fallible agents function: a value or an error_info. `value()` on an error
/// throws memory::memory_error (a boost::system::system_error).
template <class T>
using result = boost::system::result<T, error_info>;

}  // namespace engram::agents

namespace boost::system {
template <>
struct is_error_code_enum<engram::agents::errc> : std::true_type {};
}  // namespace boost::system
