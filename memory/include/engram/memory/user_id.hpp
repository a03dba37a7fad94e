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

/// How the file system that holds the memory directory compares names. store::open finds out.
enum class name_case {
    sensitive,    ///< "Alice.json" and "alice.json" are two files (ext4, XFS, Btrfs, tmpfs)
    insensitive,  ///< they are one file (ext4 or F2FS with casefold, APFS and HFS+ by default, NTFS, FAT, SMB)
};

/// Maps an id to a file-name stem: ASCII letters, digits, '-' and '_' are kept; every other byte
/// (including '.', '/', '%', '@' and all non-ASCII bytes) becomes %XX with upper-case hex. The
/// mapping is injective and the result never contains '/', never starts with '.', and is never
/// "." or "..". Rejects (errc::invalid_user_id, with a message saying why) an empty id, invalid
/// UTF-8, control characters (including NUL) and ids whose encoding exceeds max_encoded_user_id.
/// For a case-insensitive file system (name_case::insensitive) upper-case ASCII letters are
/// escaped too ("Alice" -> "%41lice"), so that ids differing only in letter case stay apart there:
/// the stems then differ even when compared without regard to case.
result<std::string> encode_user_id(std::string_view id, name_case names = name_case::sensitive);

/// The same mapping for session ids (errc::invalid_session_id, limit max_encoded_session_id).
result<std::string> encode_session_id(std::string_view id, name_case names = name_case::sensitive);

/// The inverse of encode_user_id; nullopt for any stem encode_user_id cannot produce with the
/// same `names` (with name_case::insensitive, "Alice" is not one: the store renames such a file
/// when it opens, see store::open).
std::optional<std::string> decode_id(std::string_view stem, name_case names = name_case::sensitive);

}  // namespace engram::memory
