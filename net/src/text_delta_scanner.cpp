#include "text_delta_scanner.hpp"

#include <cstdint>

namespace engram::net::detail {
namespace {

// A cursor over ASCII JSON. Every method returns false on anything unexpected; the scanner then
// declines and the event takes the full parser, which also produces the error message.
class cursor {
public:
    explicit cursor(std::string_view s) : p_(s.data()), end_(s.data() + s.size()) {}

    void skip_ws() {
        while (p_ != end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
    }
    bool at_end() {
        skip_ws();
        return p_ == end_;
    }
    bool take(char c) {
        skip_ws();
        if (p_ == end_ || *p_ != c) return false;
        ++p_;
        return true;
    }
    // A string with no escapes, compared in place (keys and the "type" values).
    bool plain_string(std::string_view& out) {
        if (!take('"')) return false;
        const char* start = p_;
        while (p_ != end_ && *p_ != '"') {
            const auto c = static_cast<unsigned char>(*p_);
            if (c == '\\' || c < 0x20 || c >= 0x80) return false;
            ++p_;
        }
        if (p_ == end_) return false;
        out = std::string_view(start, static_cast<std::size_t>(p_ - start));
        ++p_;
        return true;
    }
    // A string with escapes decoded. Non-ASCII text (raw or as \u escapes beyond ASCII) is left
    // to the full parser, which validates UTF-8 and surrogate pairs.
    bool string(std::string& out) {
        if (!take('"')) return false;
        out.clear();
        for (;;) {
            const char* run = p_;
            while (p_ != end_ && *p_ != '"' && *p_ != '\\') {
                const auto c = static_cast<unsigned char>(*p_);
                if (c < 0x20 || c >= 0x80) return false;
                ++p_;
            }
            out.append(run, static_cast<std::size_t>(p_ - run));
            if (p_ == end_) return false;
            if (*p_ == '"') {
                ++p_;
                return true;
            }
            if (++p_ == end_) return false;  // past the backslash
            switch (*p_++) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    if (end_ - p_ < 4) return false;
                    unsigned v = 0;
                    for (int i = 0; i < 4; ++i) {
                        const char h = *p_++;
                        v <<= 4;
                        if (h >= '0' && h <= '9') v |= static_cast<unsigned>(h - '0');
                        else if (h >= 'a' && h <= 'f') v |= static_cast<unsigned>(h - 'a' + 10);
                        else if (h >= 'A' && h <= 'F') v |= static_cast<unsigned>(h - 'A' + 10);
                        else return false;
                    }
                    if (v >= 0x80) return false;
                    out += static_cast<char>(v);
                    break;
                }
                default: return false;
            }
        }
    }
    // A non-negative integer without sign, fraction or exponent, as the API sends indexes.
    bool index(std::size_t& out) {
        skip_ws();
        if (p_ == end_ || *p_ < '0' || *p_ > '9') return false;
        if (*p_ == '0' && end_ - p_ > 1 && p_[1] >= '0' && p_[1] <= '9') return false;  // no leading zeros
        std::uint64_t v = 0;
        while (p_ != end_ && *p_ >= '0' && *p_ <= '9') {
            if (v > 1'000'000'000) return false;  // no content block index is that large
            v = v * 10 + static_cast<std::uint64_t>(*p_++ - '0');
        }
        if (p_ != end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E')) return false;
        out = static_cast<std::size_t>(v);
        return true;
    }

private:
    const char* p_;
    const char* end_;
};

// Reads `{"key": value, ...}`, handing each key to `member`, which reads its value. An
// unexpected key or value (member returns false) declines the whole event.
template <class Member>
bool scan_object(cursor& c, Member&& member) {
    if (!c.take('{')) return false;
    for (;;) {
        std::string_view key;
        if (!c.plain_string(key) || !c.take(':') || !member(key)) return false;
        if (c.take('}')) return true;
        if (!c.take(',')) return false;
    }
}

bool scan_delta_object(cursor& c, std::string& text) {
    bool have_type = false, have_text = false;
    const bool ok = scan_object(c, [&](std::string_view key) {
        if (key == "type" && !have_type) {
            std::string_view type;
            return have_type = c.plain_string(type) && type == "text_delta";
        }
        if (key == "text" && !have_text) return have_text = c.string(text);
        return false;
    });
    return ok && have_type && have_text;
}

}  // namespace

bool scan_text_delta(std::string_view json, std::size_t& index, std::string& text) {
    cursor c(json);
    bool have_type = false, have_index = false, have_delta = false;
    std::size_t idx = 0;
    const bool ok = scan_object(c, [&](std::string_view key) {
        if (key == "type" && !have_type) {
            std::string_view type;
            return have_type = c.plain_string(type) && type == "content_block_delta";
        }
        if (key == "index" && !have_index) return have_index = c.index(idx);
        if (key == "delta" && !have_delta) return have_delta = scan_delta_object(c, text);
        return false;
    });
    if (!ok || !(have_type && have_index && have_delta) || !c.at_end()) return false;
    index = idx;
    return true;
}

}  // namespace engram::net::detail
