// Error codes of the memory module and the error type its fallible functions return.
#pragma once

#include <string>
#include <system_error>
#include <type_traits>

#include <boost/assert/source_location.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

namespace engram::memory {

/// Failure conditions of the memory module. Values are stable; 0 is never used.
enum class errc {
    invalid_user_id = 1,  ///< The user id is empty, not UTF-8, has control characters or is too long.
    invalid_session_id,   ///< Same rules as user ids, for session ids.
    invalid_record,       ///< A memory record failed validation (the message names the field).
    memory_corrupt,       ///< A stored file could not be parsed; it was moved to quarantine (one
                          ///< above 64 MiB is reported but left in place).
    invalid_update,       ///< An extraction update failed validation (the message names the field).
    io_error,             ///< Any other operating-system failure.
    disk_full,            ///< ENOSPC / EDQUOT: a write left the old file intact (for erase, see
                          ///< store::erase: what was removed before the error stays removed).
    permission_denied,    ///< EACCES / EPERM / EROFS: as disk_full.
    unsafe_path,          ///< A symlink or non-regular file sits where engram expects its own file.
    not_found,            ///< No such user (or nothing to undo).
    shutting_down,        ///< The memory actor has stopped and no longer takes jobs.
    unsupported_record,   ///< A stored record this build cannot read (a newer schema_version, or
                          ///< beyond its record_limits); it is left untouched and never overwritten.
};

/// The category of #errc, named "engram.memory".
const boost::system::error_category& memory_category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), memory_category()};
}

/// An error code plus a human-readable message that names the offending field, file or id.
struct error_info {
    boost::system::error_code code;
    std::string message;

    /// "message (category:value)" or just the code's message when `message` is empty.
    std::string what() const;
};

/// Builds an error_info from a memory error code and message.
inline error_info make_error(errc e, std::string message) {
    return {make_error_code(e), std::move(message)};
}

/// Builds an error_info from an errno value, classified into disk_full / permission_denied /
/// unsafe_path / not_found / io_error; `context` says what was being done ("write alice.json").
error_info error_from_errno(int err, const std::string& context);

/// Thrown by result<T>::value() when it holds an error.
class memory_error : public boost::system::system_error {
public:
    explicit memory_error(const error_info& e) : boost::system::system_error(e.code, e.message) {}
};

/// Found by ADL from boost::system::result<T, error_info>::value().
[[noreturn]] void throw_exception_from_error(const error_info& e, const boost::source_location& loc);

/// Result type of every fallible memory function: a value or an error_info.
template <class T>
using result = boost::system::result<T, error_info>;

}  // namespace engram::memory

namespace boost::system {
template <>
struct is_error_code_enum<engram::memory::errc> : std::true_type {};
}  // namespace boost::system
