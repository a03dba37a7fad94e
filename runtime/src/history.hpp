// Pure helpers for session histories (private to runtime/).
#pragma once

#include <cstddef>
#include <string>

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

namespace engram::runtime::detail {

/// Characters of text in one Messages API message (string content or text/tool blocks).
std::size_t message_chars(const boost::json::value& message);
std::size_t history_chars(const boost::json::array& history);

/// Drops the oldest turns (a user message and the replies up to the next user message) until
/// the history fits `budget` characters, never dropping the newest message. Returns how many
/// messages were dropped; the history always starts with a user message afterwards.
std::size_t trim_history(boost::json::array& history, std::size_t budget);

/// "USER: ...\nASSISTANT: ..." lines: what the extraction call reads.
std::string transcript_text(const boost::json::array& history);

/// Parses an RFC 3339 UTC time such as "2025-10-30T16:17:36Z" into seconds since the epoch
/// (0 when it cannot be parsed).
long long parse_rfc3339_utc(const std::string& s);

}  // namespace engram::runtime::detail
