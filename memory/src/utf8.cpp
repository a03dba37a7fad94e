#include <engram/memory/utf8.hpp>

namespace engram::memory {

bool is_valid_utf8(std::string_view s) noexcept {
    std::size_t i = 0;
    const std::size_t n = s.size();
    while (i < n) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len = 0;
        char32_t cp = 0;
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + len > n) return false;
        for (std::size_t k = 1; k < len; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return false;
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
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
