// Recognizes the frequent stream events without building a JSON tree (private to net/).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
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

/// If `sse` begins with a whole SSE block holding a text delta in exactly the form the API sends,
/// `event: content_block_delta\ndata: {"type":"content_block_delta","index":N,"delta":{"type":"text_delta","text":"..."}}\n\n`
/// (no other field, no whitespace but these line ends, LF only), stores N and the decoded text
/// as scan_text_delta does and returns the block's length; else 0. Such a block is one event of
/// type content_block_delta whose data scan_text_delta accepts with the same index and text,
/// so a caller may take it whole instead of splitting its lines first.
std::size_t scan_text_delta_block(std::string_view sse, std::size_t& index, std::string_view& text, std::string& scratch);

/// If `json` is exactly `{"type":"content_block_stop","index":N}` (the compact form the API
/// sends; trailing whitespace allowed), stores N and returns true; anything else is false.
bool scan_block_stop(std::string_view json, std::size_t& index);

/// If `json` is exactly `{"type":"content_block_start","index":N,"content_block":{"type":"text","text":""}}`
/// (the compact form the API sends for a text block; trailing whitespace allowed), stores N and
/// returns true; anything else (another block type, citations, whitespace other than before N
/// and at the end) is false.
bool scan_text_block_start(std::string_view json, std::size_t& index);

/// One member of a flat object: a string without escapes (ASCII), a non-negative integer of at
/// most 18 digits, or null: what a full parse would hold as json::string, std::int64_t or null.
struct flat_member {
    enum class kind : unsigned char { string, integer, null };
    std::string_view key;
    kind type = kind::null;
    std::string_view text;   ///< kind::string: its characters (a view of the input)
    std::int64_t number = 0; ///< kind::integer
};

/// A flat object of at most 8 members (the API sends 2 to 5), each key once.
struct flat_object {
    std::array<flat_member, 8> members;
    std::size_t size = 0;
};

/// If `json` is a message_delta in the compact form the API sends,
/// `{"type":"message_delta","delta":{...},"usage":{...}}` with both objects flat (only strings
/// without escapes, integers and null; no key twice), stores both objects and returns true;
/// anything else (a nested value, a fraction, an escape, more members) is false, and the event
/// is parsed in full.
bool scan_message_delta(std::string_view json, flat_object& delta, flat_object& usage);

}  // namespace engram::net::detail
