// Token usage accounting.
#pragma once

#include <cstdint>

#include <engram/net/message.hpp>

namespace engram::runtime {

/// Tokens billed, summed over requests (each request's final usage counted once).
struct usage_totals {
    std::int64_t requests = 0;
    std::int64_t input_tokens = 0;
    std::int64_t output_tokens = 0;
    std::int64_t cache_creation_input_tokens = 0;
    std::int64_t cache_read_input_tokens = 0;

    void add(const net::usage& u) noexcept {
        ++requests;
        input_tokens += u.input_tokens.value_or(0);
        output_tokens += u.output_tokens.value_or(0);
        cache_creation_input_tokens += u.cache_creation_input_tokens.value_or(0);
        cache_read_input_tokens += u.cache_read_input_tokens.value_or(0);
    }
    void add(const usage_totals& o) noexcept {
        requests += o.requests;
        input_tokens += o.input_tokens;
        output_tokens += o.output_tokens;
        cache_creation_input_tokens += o.cache_creation_input_tokens;
        cache_read_input_tokens += o.cache_read_input_tokens;
    }
};

}  // namespace engram::runtime
