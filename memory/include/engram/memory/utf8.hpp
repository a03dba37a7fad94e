// UTF-8 and text-normalisation helpers (used by memory/ and by agents/ for validation).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace engram::memory {

/// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view s) noexcept;

/// The length (1 to 4) of the well-formed UTF-8 sequence that starts at `s[i]`, or 0 when none
/// does there (a stray continuation byte, an overlong form, a surrogate, a cut sequence) or `i`
/// is past the end.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept;

/// Number of code points in valid UTF-8 (continuation bytes are not counted).
std::size_t code_points(std::string_view s) noexcept;

/// Byte offset just after the first `n` code points of `s` (or s.size()).
std::size_t byte_offset_of(std::string_view s, std::size_t n) noexcept;

/// `s` when it has at most `max_bytes` bytes; else its longest prefix of whole characters that
/// leaves room for a "…" (U+2026, 3 bytes), followed by it. Never more than `max_bytes` bytes
/// (for max_bytes >= 3).
std::string cut_with_ellipsis(std::string_view s, std::size_t max_bytes);

/// ASCII-lowercased, whitespace runs collapsed to one space and trimmed, sentence punctuation
/// (. , ; : ! ? quotes brackets -) removed unless it stands between two word characters; other
/// punctuation (+ # $ % / ...) kept, as it changes the meaning ("C++" is not "C#"). Non-ASCII
/// bytes are kept unchanged. Used for case/spacing/punctuation-insensitive equality.
std::string normalize_for_compare(std::string_view s);

/// Replaces every run of whitespace / control characters, and of the Unicode line breaks
/// (U+0085, U+2028, U+2029), by one space and trims the ends.
std::string single_line(std::string_view s);

/// The length of the line break that starts at `s[i]`, 0 if none: CR LF (2), LF, CR, VT, FF (1),
/// U+0085 NEL (2), U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR (3). A reader (a model
/// included) may start a new line at any of them.
inline std::size_t line_break_length(std::string_view s, std::size_t i) noexcept {
    if (i >= s.size()) return 0;
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\r') return i + 1 < s.size() && s[i + 1] == '\n' ? 2 : 1;
    if (c == '\n' || c == '\v' || c == '\f') return 1;
    if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x85) return 2;
    if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
        (static_cast<unsigned char>(s[i + 2]) == 0xA8 || static_cast<unsigned char>(s[i + 2]) == 0xA9))
        return 3;
    return 0;
}

}  // namespace engram::memory
