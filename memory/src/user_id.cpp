#include <engram/memory/user_id.hpp>

#include <engram/memory/utf8.hpp>

namespace engram::memory {
namespace {

bool is_upper(unsigned char c) noexcept {
    return c >= 'A' && c <= 'Z';
}

/// Bytes a stem holds as they are. On a case-insensitive file system upper-case letters are
/// escaped, so that "Alice" and "alice" name different files there too.
bool kept(unsigned char c, name_case names) noexcept {
    return (c >= 'a' && c <= 'z') || (is_upper(c) && names == name_case::sensitive) || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

result<std::string> encode(std::string_view id, errc e, std::string_view what, std::size_t limit,
                           name_case names) {
    const std::string name(what);
    if (id.empty()) return make_error(e, name + " is empty");
    if (!is_valid_utf8(id)) return make_error(e, name + " is not valid UTF-8");
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(id.size());
    for (char ch : id) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7F) return make_error(e, name + " contains a control character");
        if (kept(c, names)) {
            out.push_back(ch);
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 0xF]);
        }
        if (out.size() > limit)
            return make_error(
                e, name + " is too long (its file-name form exceeds " + std::to_string(limit) + " bytes)");
    }
    return out;
}

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;  // lower-case hex is never produced, so it is not accepted either (injectivity)
}

}  // namespace

result<std::string> encode_user_id(std::string_view id, name_case names) {
    return encode(id, errc::invalid_user_id, "user id", max_encoded_user_id, names);
}

result<std::string> encode_session_id(std::string_view id, name_case names) {
    return encode(id, errc::invalid_session_id, "session id", max_encoded_session_id, names);
}

std::optional<std::string> decode_id(std::string_view stem, name_case names) {
    std::string out;
    for (std::size_t i = 0; i < stem.size(); ++i) {
        const auto c = static_cast<unsigned char>(stem[i]);
        if (kept(c, names)) {
            out.push_back(stem[i]);
            continue;
        }
        if (c != '%' || i + 2 >= stem.size()) return std::nullopt;
        const int hi = hex_value(stem[i + 1]);
        const int lo = hex_value(stem[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        const auto byte = static_cast<unsigned char>(hi * 16 + lo);
        if (kept(byte, names)) return std::nullopt;  // a kept byte is never escaped
        out.push_back(static_cast<char>(byte));
        i += 2;
    }
    // Only accept stems that round-trip exactly.
    auto again = encode_user_id(out, names);
    if (!again || *again != stem) return std::nullopt;
    return out;
}

}  // namespace engram::memory
