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
inline check read_string(const boost::json::value& v, std::string_view path, std::size_t max_bytes, errc e,
                         std::string& out, bool nullable = false) {
    if (nullable && v.is_null()) {
        out.clear();
        return std::nullopt;
    }
    if (!v.is_string())
        return field_error(e, path, std::string("expected a string, got ") + std::string(kind_name(v)));
    const auto& s = v.get_string();
    if (s.size() > max_bytes)
        return field_error(
            e, path,
            "too long (" + std::to_string(s.size()) + " bytes, limit " + std::to_string(max_bytes) + ")");
    if (!is_valid_utf8(s)) return field_error(e, path, "not valid UTF-8");
    out.assign(s.data(), s.size());
    return std::nullopt;
}

inline std::string index_path(std::string_view path, std::size_t i) {
    return std::string(path) + "[" + std::to_string(i) + "]";
}

inline std::string member_path(std::string_view path, std::string_view key) {
    if (path.empty()) return std::string(key);
    return std::string(path) + "." + std::string(key);
}

}  // namespace engram::memory::detail
