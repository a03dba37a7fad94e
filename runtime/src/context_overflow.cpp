#include "context_overflow.hpp"

#include <charconv>
#include <cstdint>
#include <string_view>

namespace engram::runtime::detail {
namespace {

// The first unsigned number at or after `from`; `from` moves past it.
std::optional<std::uint64_t> next_number(std::string_view s, std::size_t& from) {
    const auto start = s.find_first_of("0123456789", from);
    if (start == std::string_view::npos) return std::nullopt;
    std::uint64_t n = 0;
    const auto [end, ec] = std::from_chars(s.data() + start, s.data() + s.size(), n);
    if (ec != std::errc()) return std::nullopt;
    from = static_cast<std::size_t>(end - s.data());
    return n;
}

}  // namespace

std::optional<double> context_fraction(const net::client_error& e) {
    if (e.code_value() != net::errc::invalid_request || !e.api()) return std::nullopt;
    const std::string_view m = e.api()->message;
    constexpr std::string_view prefix = "prompt is too long";
    if (!m.starts_with(prefix)) return std::nullopt;
    std::size_t at = prefix.size();
    const auto tokens = next_number(m, at);
    const auto limit = next_number(m, at);
    if (!tokens || !limit || *tokens == 0 || *limit >= *tokens) return 0.5;  // said, not counted
    return static_cast<double>(*limit) / static_cast<double>(*tokens);
}

}  // namespace engram::runtime::detail
