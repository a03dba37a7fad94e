// Field-naming JSON readers shared by the record and update parsers (private).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include <engram/memory/error.hpp>

#include <engram/memory/utf8.hpp>

namespace engram::memory::detail {

/// Empty on success, the error otherwise. Readers never throw on bad input.
using check = std::optional<error_info>;

inline error_info field_error(errc e, std::string_view path, std::string_view what) {
    std::string msg(path);
    msg += ": ";
    msg += what;
    return make_error(e, std::move(msg));
}

inline std::string_view kind_name(const boost::json::value& v) noexcept {
    switch (v.kind()) {
        case boost::json::kind::null:
            return "null";
        case boost::json::kind::bool_:
            return "a boolean";
        case boost::json::kind::int64:
        case boost::json::kind::uint64:
        case boost::json::kind::double_:
            return "a number";
        case boost::json::kind::string:
            return "a string";
        case boost::json::kind::array:
            return "an array";
        case boost::json::kind::object:
            return "an object";
    }
    return "a value";
}

/// Reads a string of at most `max_bytes` bytes; null is accepted (as "") only when `nullable`.
/// A malformed value fails with `e`; a well-formed one longer than `max_bytes` with `too_long`.
inline check read_string(const boost::json::value& v, std::string_view path, std::size_t max_bytes, errc e,
                         errc too_long, std::string& out, bool nullable = false) {
    if (nullable && v.is_null()) {
        out.clear();
        return std::nullopt;
    }
    if (!v.is_string())
        return field_error(e, path, std::string("expected a string, got ") + std::string(kind_name(v)));
    const auto& s = v.get_string();
    if (!is_valid_utf8(s)) return field_error(e, path, "not valid UTF-8");
    if (s.size() > max_bytes)
        return field_error(
            too_long, path,
            "too long (" + std::to_string(s.size()) + " bytes, limit " + std::to_string(max_bytes) + ")");
    out.assign(s.data(), s.size());
    return std::nullopt;
}

/// The same, failing with `e` in every case.
inline check read_string(const boost::json::value& v, std::string_view path, std::size_t max_bytes, errc e,
                         std::string& out, bool nullable = false) {
    return read_string(v, path, max_bytes, e, e, out, nullable);
}

/// "YYYY-MM-DD" at the start: what the record reader requires of every timestamp.
inline bool looks_like_date(std::string_view s) noexcept {
    if (s.size() < 10) return false;
    for (std::size_t i = 0; i < 10; ++i) {
        const bool digit = s[i] >= '0' && s[i] <= '9';
        if ((i == 4 || i == 7) ? s[i] != '-' : !digit) return false;
    }
    return true;
}

/// A timestamp the record reader accepts (non-empty). Writers check with this so that they never
/// store one the next read would quarantine.
inline bool is_stored_timestamp(std::string_view s, std::size_t max_bytes) noexcept {
    return s.size() <= max_bytes && looks_like_date(s) && is_valid_utf8(s);
}

/// A calendar date "YYYY-MM-DD", optionally followed by an ISO-8601 time ("T09:30:00Z",
/// "T09:30+02:00"). The time's alphabet has no room for words, so such a value carries no prose.
inline bool is_iso_date(std::string_view s) noexcept {
    if (!looks_like_date(s)) return false;
    const int month = (s[5] - '0') * 10 + (s[6] - '0');
    const int day = (s[8] - '0') * 10 + (s[9] - '0');
    if (month < 1 || month > 12 || day < 1 || day > 31) return false;
    if (s.size() == 10) return true;
    if (s[10] != 'T' || s.size() == 11) return false;
    for (const char c : s.substr(11))
        if (!((c >= '0' && c <= '9') || c == ':' || c == '.' || c == 'Z' || c == '+' || c == '-'))
            return false;
    return true;
}

inline std::string index_path(std::string_view path, std::size_t i) {
    return std::string(path) + "[" + std::to_string(i) + "]";
}

inline std::string member_path(std::string_view path, std::string_view key) {
    if (path.empty()) return std::string(key);
    return std::string(path) + "." + std::string(key);
}

}  // namespace engram::memory::detail
