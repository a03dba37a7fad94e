// The injective, path-safe mapping from user and session ids to file-name stems.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <engram/memory/error.hpp>

namespace engram::memory {

/// Longest encoded user id (bytes). With the suffixes engram adds, every file name stays below
/// NAME_MAX (255) on all common filesystems.
inline constexpr std::size_t max_encoded_user_id = 160;
/// Longest encoded session id (bytes).
inline constexpr std::size_t max_encoded_session_id = 48;

/// Maps an id to a file-name stem: ASCII letters, digits, '-' and '_' are kept; every other byte
/// (including '.', '/', '%', '@' and all non-ASCII bytes) becomes %XX with upper-case hex. The
/// mapping is injective and the result never contains '/', never starts with '.', and is never
/// "." or "..". Rejects (errc::invalid_user_id, with a message saying why) an empty id, invalid
/// UTF-8, control characters (including NUL) and ids whose encoding exceeds max_encoded_user_id.
/// Note: ids differing only in letter case map to different stems; on a case-insensitive
/// filesystem they would collide, so engram's memory directory must be on a case-sensitive one.
result<std::string> encode_user_id(std::string_view id);

/// The same mapping for session ids (errc::invalid_session_id, limit max_encoded_session_id).
result<std::string> encode_session_id(std::string_view id);

/// The inverse of encode_user_id; nullopt for any stem encode_user_id cannot produce.
std::optional<std::string> decode_id(std::string_view stem);

}  // namespace engram::memory
