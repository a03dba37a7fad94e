#include <engram/memory/utf8.hpp>

#include <algorithm>

namespace engram::memory {

std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept {
    if (i >= s.size()) return 0;
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
    const unsigned char c = b(0);
    if (c < 0x80) return 1;
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c == 0xE0) n = 3, lo = 0xA0;  // no overlong forms
    else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) n = 3;
    else if (c == 0xED) n = 3, hi = 0x9F;  // no surrogates
    else if (c == 0xF0) n = 4, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) n = 4;
    else if (c == 0xF4) n = 4, hi = 0x8F;  // nothing past U+10FFFF
    else return 0;
    if (s.size() - i < n || b(1) < lo || b(1) > hi) return 0;
    for (std::size_t k = 2; k < n; ++k)
        if (b(k) < 0x80 || b(k) > 0xBF) return 0;
    return n;
}

bool is_valid_utf8(std::string_view s) noexcept {
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = utf8_sequence_length(s, i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

std::size_t code_points(std::string_view s) noexcept {
    std::size_t count = 0;
    for (char ch : s)
        if ((static_cast<unsigned char>(ch) & 0xC0) != 0x80) ++count;
    return count;
}

std::size_t byte_offset_of(std::string_view s, std::size_t n) noexcept {
    std::size_t seen = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
            if (seen == n) return i;
            ++seen;
        }
    }
    return s.size();
}

std::string cut_with_ellipsis(std::string_view s, std::size_t max_bytes) {
    if (s.size() <= max_bytes) return std::string(s);
    constexpr std::string_view ellipsis = "\xE2\x80\xA6";
    const std::size_t room = max_bytes < ellipsis.size() ? 0 : max_bytes - ellipsis.size();
    std::size_t end = 0;
    while (end < s.size()) {
        const std::size_t n = std::max<std::size_t>(1, utf8_sequence_length(s, end));  // a stray byte counts as one
        if (end + n > room) break;
        end += n;
    }
    std::string out(s.substr(0, end));
    out += ellipsis;
    return out;
}

namespace {
bool is_space_or_control(unsigned char c) noexcept {
    return c <= 0x20 || c == 0x7F;
}
// Punctuation that only shapes a sentence (a final full stop, quotes, brackets): ignored when
// comparing, except between two word characters, where it is part of a word ("3.5k", "e-mail").
// Any other punctuation carries meaning ("C++" is not "C#", "$35k" is not "35k") and is kept.
bool is_sentence_punct(unsigned char c) noexcept {
    switch (c) {
        case '.': case ',': case ';': case ':': case '!': case '?': case '"': case '\'':
        case '`': case '(': case ')': case '[': case ']': case '{': case '}': case '-':
            return true;
        default:
            return false;
    }
}
bool is_word_byte(unsigned char c) noexcept {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}
}  // namespace

std::string normalize_for_compare(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    bool pending_space = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (is_space_or_control(c)) {
            pending_space = !out.empty();
            continue;
        }
        if (is_sentence_punct(c)) {
            const bool inside_word = i > 0 && i + 1 < s.size() && is_word_byte(static_cast<unsigned char>(s[i - 1])) &&
                                     is_word_byte(static_cast<unsigned char>(s[i + 1]));
            if (!inside_word) continue;
        }
        if (pending_space) out.push_back(' ');
        pending_space = false;
        out.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c));
    }
    return out;
}

std::string single_line(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    bool pending_space = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char ch = s[i];
        if (const auto n = line_break_length(s, i); n > 1) {  // NEL, LS, PS (CR LF too)
            pending_space = !out.empty();
            i += n - 1;
            continue;
        }
        if (is_space_or_control(static_cast<unsigned char>(ch))) {
            pending_space = !out.empty();
            continue;
        }
        if (pending_space) out.push_back(' ');
        pending_space = false;
        out.push_back(ch);
    }
    return out;
}

}  // namespace engram::memory
