// Raising the process's open-file limit for many concurrent streams (private to runtime/).
#pragma once

#include <cstddef>
#include <string>

namespace engram::runtime::detail {

/// Raises the soft RLIMIT_NOFILE to at least `wanted` (never lowers it). Returns an empty
/// string on success, else a one-line explanation with the limits found and what to change.
std::string ensure_open_files(std::size_t wanted);

}  // namespace engram::runtime::detail
