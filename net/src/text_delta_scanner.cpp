#include "text_delta_scanner.hpp"

#include <cstdint>
#include <cstring>

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
    // Raw bytes, with no whitespace skipped: the compact form's fixed parts.
    // (A literal's length is a constant here, so the compiler compares words inline.)
    template <std::size_t N>
    bool literal(const char (&s)[N]) {
        constexpr std::size_t n = N - 1;
        if (static_cast<std::size_t>(end_ - p_) < n || std::memcmp(p_, s, n) != 0) return false;
        p_ += n;
        return true;
    }
    // A string, decoded. `out` views the input when the string has no escapes, else `scratch`,
    // which holds the decoded text. Raw UTF-8 is validated as a JSON parser does; a \u escape
    // beyond ASCII is left to the full parser, which pairs surrogates.
    bool string(std::string_view& out, std::string& scratch) { return take('"') && string_rest(out, scratch); }
    // The same after the opening quote.
    bool string_rest(std::string_view& out, std::string& scratch) {
        const char* start = p_;
        if (!plain_run()) return false;
        if (p_ == end_) return false;
        if (*p_ == '"') {  // no escapes: the text is the input itself
            out = std::string_view(start, static_cast<std::size_t>(p_ - start));
            ++p_;
            return true;
        }
        scratch.assign(start, static_cast<std::size_t>(p_ - start));
        for (;;) {
            if (*p_ == '"') {
                ++p_;
                out = scratch;
                return true;
            }
            if (++p_ == end_) return false;  // past the backslash
            switch (*p_++) {
                case '"': scratch += '"'; break;
                case '\\': scratch += '\\'; break;
                case '/': scratch += '/'; break;
                case 'b': scratch += '\b'; break;
                case 'f': scratch += '\f'; break;
                case 'n': scratch += '\n'; break;
                case 'r': scratch += '\r'; break;
                case 't': scratch += '\t'; break;
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
                    scratch += static_cast<char>(v);
                    break;
                }
                default: return false;
            }
            const char* run = p_;
            if (!plain_run() || p_ == end_) return false;
            scratch.append(run, static_cast<std::size_t>(p_ - run));
        }
    }
    // A non-negative integer without sign, fraction or exponent, as the API sends indexes.
    bool index(std::size_t& out) {
        skip_ws();
        return index_here(out);
    }
    // The same with no whitespace before it.
    bool index_here(std::size_t& out) {
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
    // A non-negative integer as a JSON parser reads it into int64 (no sign, no leading zeros,
    // no fraction or exponent); at most 18 digits, so it cannot overflow.
    bool integer(std::int64_t& out) {
        skip_ws();
        if (p_ == end_ || *p_ < '0' || *p_ > '9') return false;
        if (*p_ == '0' && end_ - p_ > 1 && p_[1] >= '0' && p_[1] <= '9') return false;
        std::int64_t v = 0;
        int digits = 0;
        while (p_ != end_ && *p_ >= '0' && *p_ <= '9') {
            if (++digits > 18) return false;
            v = v * 10 + (*p_++ - '0');
        }
        if (p_ != end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E')) return false;
        out = v;
        return true;
    }
    bool null() {
        skip_ws();
        return literal("null");
    }
    char peek() {
        skip_ws();
        return p_ == end_ ? '\0' : *p_;
    }
    // How much of `s`, the text the cursor was made with, it has read.
    std::size_t consumed(std::string_view s) const { return static_cast<std::size_t>(p_ - s.data()); }

private:
    // Advances over string content up to a quote, a backslash or the end. False on a control
    // character or invalid UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past
    // U+10FFFF), which a JSON parser rejects.
    bool plain_run() {
        while (p_ != end_) {
            const auto c = static_cast<unsigned char>(*p_);
            if (c >= 0x20 && c < 0x80) {
                if (c == '"' || c == '\\') return true;
                ++p_;
                continue;
            }
            if (c < 0x20) return false;
            const std::size_t n = utf8_sequence(reinterpret_cast<const unsigned char*>(p_), static_cast<std::size_t>(end_ - p_));
            if (n == 0) return false;
            p_ += n;
        }
        return true;
    }
    // The length of the valid UTF-8 sequence starting with a byte >= 0x80, or 0.
    static std::size_t utf8_sequence(const unsigned char* s, std::size_t avail) {
        const unsigned char c = s[0];
        std::size_t n = 0;
        unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
        if (c >= 0xC2 && c <= 0xDF) n = 2;
        else if (c == 0xE0) n = 3, lo = 0xA0;
        else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) n = 3;
        else if (c == 0xED) n = 3, hi = 0x9F;  // no surrogates
        else if (c == 0xF0) n = 4, lo = 0x90;
        else if (c >= 0xF1 && c <= 0xF3) n = 4;
        else if (c == 0xF4) n = 4, hi = 0x8F;  // nothing past U+10FFFF
        else return 0;
        if (avail < n || s[1] < lo || s[1] > hi) return 0;
        for (std::size_t i = 2; i < n; ++i)
            if (s[i] < 0x80 || s[i] > 0xBF) return 0;
        return n;
    }

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

bool scan_delta_object(cursor& c, std::string_view& text, std::string& scratch) {
    bool have_type = false, have_text = false;
    const bool ok = scan_object(c, [&](std::string_view key) {
        if (key == "type" && !have_type) {
            std::string_view type;
            return have_type = c.plain_string(type) && type == "text_delta";
        }
        if (key == "text" && !have_text) return have_text = c.string(text, scratch);
        return false;
    });
    return ok && have_type && have_text;
}

// A flat object (see flat_object) into `out`.
bool scan_flat_object(cursor& c, flat_object& out) {
    out.size = 0;
    if (!c.take('{')) return false;
    if (c.take('}')) return true;
    for (;;) {
        if (out.size == out.members.size()) return false;
        flat_member& m = out.members[out.size];
        if (!c.plain_string(m.key) || !c.take(':')) return false;
        for (std::size_t i = 0; i < out.size; ++i)
            if (out.members[i].key == m.key) return false;  // a duplicate is left to the full parser
        const char first = c.peek();
        if (first == '"') {
            m.type = flat_member::kind::string;
            if (!c.plain_string(m.text)) return false;
        } else if (first == 'n') {
            m.type = flat_member::kind::null;
            if (!c.null()) return false;
        } else {
            m.type = flat_member::kind::integer;
            if (!c.integer(m.number)) return false;
        }
        ++out.size;
        if (c.take('}')) return true;
        if (!c.take(',')) return false;
    }
}

// The form the API sends a text delta in, matched in a few comparisons, up to its closing brace.
bool compact_text_delta(cursor& c, std::size_t& index, std::string_view& text, std::string& scratch) {
    // Nothing in it skips whitespace: in an SSE block a line end there would end the data line.
    return c.literal(R"({"type":"content_block_delta","index":)") && c.index_here(index) &&
           c.literal(R"(,"delta":{"type":"text_delta","text":")") && c.string_rest(text, scratch) && c.literal("}}");
}

}  // namespace

bool scan_text_block_start(std::string_view json, std::size_t& index) {
    cursor c(json);
    std::size_t idx = 0;
    if (!(c.literal(R"({"type":"content_block_start","index":)") && c.index(idx) &&
          c.literal(R"(,"content_block":{"type":"text","text":""}})") && c.at_end()))
        return false;
    index = idx;
    return true;
}

bool scan_message_delta(std::string_view json, flat_object& delta, flat_object& usage) {
    cursor c(json);
    return c.literal(R"({"type":"message_delta","delta":)") && scan_flat_object(c, delta) &&
           c.literal(R"(,"usage":)") && scan_flat_object(c, usage) && c.take('}') && c.at_end();
}

bool scan_block_stop(std::string_view json, std::size_t& index) {
    cursor c(json);
    std::size_t idx = 0;
    if (!(c.literal(R"({"type":"content_block_stop","index":)") && c.index(idx) && c.literal("}") && c.at_end()))
        return false;
    index = idx;
    return true;
}

bool scan_text_delta(std::string_view json, std::size_t& index, std::string_view& text, std::string& scratch) {
    std::size_t idx = 0;
    {
        cursor c(json);
        if (compact_text_delta(c, idx, text, scratch) && c.at_end()) {
            index = idx;
            return true;
        }
    }
    cursor c(json);
    bool have_type = false, have_index = false, have_delta = false;
    const bool ok = scan_object(c, [&](std::string_view key) {
        if (key == "type" && !have_type) {
            std::string_view type;
            return have_type = c.plain_string(type) && type == "content_block_delta";
        }
        if (key == "index" && !have_index) return have_index = c.index(idx);
        if (key == "delta" && !have_delta) return have_delta = scan_delta_object(c, text, scratch);
        return false;
    });
    if (!ok || !(have_type && have_index && have_delta) || !c.at_end()) return false;
    index = idx;
    return true;
}

std::size_t scan_text_delta_block(std::string_view sse, std::size_t& index, std::string_view& text, std::string& scratch) {
    cursor c(sse);
    std::size_t idx = 0;
    // The data line ends at the closing brace: nothing before it skips whitespace, and the JSON
    // string cannot hold a raw line end (the scan declines control characters).
    if (!(c.literal("event: content_block_delta\ndata: ") && compact_text_delta(c, idx, text, scratch) && c.literal("\n\n")))
        return 0;
    index = idx;
    return c.consumed(sse);
}

}  // namespace engram::net::detail
