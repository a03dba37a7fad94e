// The allocator of a message the client builds (private to net/).
#pragma once

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/storage_ptr.hpp>

namespace engram::net::detail {

/// A fresh arena for one message's JSON, shared by the message's values and released with the
/// last of them. A message is built once and then read: with the default allocator every key,
/// object and long string of it was a malloc of its own (some twenty for a reply's head), and
/// with thousands of streams alive those were a large part of a turn's cost.
inline boost::json::storage_ptr message_arena() { return boost::json::make_shared_resource<boost::json::monotonic_resource>(); }

}  // namespace engram::net::detail
