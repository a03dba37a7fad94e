// Recognizes the most frequent stream event without building a JSON tree (private to net/).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace engram::net::detail {

/// If `json` is exactly a text delta event, i.e. an object with the members "type":
/// "content_block_delta", "index": a non-negative integer and "delta": an object with exactly
/// "type": "text_delta" and "text": a string (members in any order, any JSON whitespace), stores
/// the index and the decoded text and returns true. Anything else (another shape, an extra
/// member, a duplicate key, invalid UTF-8, a \u escape beyond ASCII, malformed input) returns
/// false and the caller parses the event in full, so the answer is always the same as a full
/// parse's. On false `index` is untouched.
///
/// `text` views `json` itself when the string has no escapes (the usual case: no copy), else
/// `scratch`, which then holds the decoded text. The compact form the API sends
/// (`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"..."}}`) is
/// matched with a few comparisons before the general member-by-member scan.
bool scan_text_delta(std::string_view json, std::size_t& index, std::string_view& text, std::string& scratch);

/// If `json` is exactly `{"type":"content_block_stop","index":N}` (the compact form the API
/// sends; trailing whitespace allowed), stores N and returns true; anything else is false.
bool scan_block_stop(std::string_view json, std::size_t& index);

}  // namespace engram::net::detail
