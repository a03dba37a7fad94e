#include "response_reader.hpp"

#include <array>

namespace engram::net::detail {

namespace {

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

}  // namespace

bool response_reader::kept(std::string_view name) noexcept {
    constexpr std::string_view prefix = "anthropic-ratelimit-";
    if (name.size() > prefix.size() && iequals(name.substr(0, prefix.size()), prefix)) return true;
    static constexpr std::array<std::string_view, 4> names{"request-id", "retry-after", "retry-after-ms", "x-should-retry"};
    for (auto n : names)
        if (iequals(name, n)) return true;
    return false;
}

void response_reader::on_field_impl(boost::beast::http::field, string_view name, string_view value, error_code&) {
    const std::string_view n(name.data(), name.size());
    if (!kept(n)) return;
    if (kept_.empty()) kept_.reserve(256);  // the few kept headers, in one allocation
    for (char c : n) kept_ += lower(c);
    kept_ += '\0';
    kept_.append(value.data(), value.size());
    kept_ += '\0';
}

std::string_view response_reader::header(std::string_view name) const noexcept {
    const std::string_view all(kept_);
    std::size_t pos = 0;
    while (pos < all.size()) {
        const auto name_end = all.find('\0', pos);
        const auto value_end = all.find('\0', name_end + 1);
        if (all.substr(pos, name_end - pos) == name) return all.substr(name_end + 1, value_end - name_end - 1);
        pos = value_end + 1;
    }
    return {};
}

}  // namespace engram::net::detail
