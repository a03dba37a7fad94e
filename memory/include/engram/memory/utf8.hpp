// UTF-8 and text-normalisation helpers (used by memory/ and by agents/ for validation).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace engram::memory {

/// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view s) noexcept;

/// Number of code points in valid UTF-8 (continuation bytes are not counted).
std::size_t code_points(std::string_view s) noexcept;

/// Byte offset just after the first `n` code points of `s` (or s.size()).
std::size_t byte_offset_of(std::string_view s, std::size_t n) noexcept;

/// ASCII-lowercased, whitespace runs collapsed to one space and trimmed, sentence punctuation
/// (. , ; : ! ? quotes brackets -) removed unless it stands between two word characters; other
/// punctuation (+ # $ % / ...) kept, as it changes the meaning ("C++" is not "C#"). Non-ASCII
/// bytes are kept unchanged. Used for case/spacing/punctuation-insensitive equality.
std::string normalize_for_compare(std::string_view s);

/// Replaces every run of whitespace / control characters by one space and trims the ends.
std::string single_line(std::string_view s);

}  // namespace engram::memory
