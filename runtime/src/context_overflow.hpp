// The API's refusal of a prompt longer than the model's context (private to runtime/).
#pragma once

#include <optional>

#include <engram/net/error.hpp>

namespace engram::runtime::detail {

/// For a 400 "prompt is too long: 208310 tokens > 200000 maximum": the share of the prompt that
/// fits (200000 / 208310), or 0.5 when the message names no counts. Empty for any other error.
std::optional<double> context_fraction(const net::client_error& e);

}  // namespace engram::runtime::detail
