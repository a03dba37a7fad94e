#include "errors.hpp"

#include <iostream>
#include <new>

#include <engram/memory/error.hpp>
#include <engram/memory/utf8.hpp>
#include <engram/net/error.hpp>
#include <engram/runtime/error.hpp>

namespace engram::cli {

namespace {

namespace net = engram::net;
namespace rt = engram::runtime;

std::string api_message(const net::client_error& e, const error_context& ctx) {
    const auto& api = *e.api();
    std::string what = "the API returned ";
    what += api.error_type.empty() ? std::string("an error") : api.error_type;
    if (api.http_status != 0) what += " (HTTP " + std::to_string(api.http_status) + ")";
    else what += " in the stream";
    if (!api.message.empty()) what += ": " + api.message;
    what += api.request_id.empty() ? std::string(" [no request-id]") : " [request-id " + api.request_id + "]";
    switch (e.code_value()) {
        case net::errc::authentication:
            what += "; check ANTHROPIC_API_KEY (environment or ./.env)";
            break;
        case net::errc::permission:
            what += "; this key may not use that model or feature";
            break;
        case net::errc::not_found:
            what += "; check --model and " + ctx.base_url_setting;
            break;
        case net::errc::rate_limited:
        case net::errc::overloaded:
        case net::errc::api_internal:
            what += "; retries exhausted, try again later (ENGRAM_MAX_RETRIES sets how often engram retries)";
            break;
        default:
            break;
    }
    return what;
}

failure from_client_error(const net::client_error& e, const error_context& ctx) {
    const std::string where = ctx.base_url.empty() ? std::string("the API") : ctx.base_url;
    switch (e.kind()) {
        case net::error_kind::api:
            return {exit_api, api_message(e, ctx)};
        case net::error_kind::connection:
            return {exit_api, "cannot connect to " + where + " (" + e.what() +
                                  "); check " + ctx.base_url_setting + " and that the server is running"};
        case net::error_kind::tls:
            return {exit_api, "TLS failure with " + where + " (" + e.what() +
                                  "); for a private endpoint pass its CA certificate with --ca-file FILE"};
        case net::error_kind::timeout:
            return {exit_api, "timed out talking to " + where + " (" + e.what() + "); try again later"};
        case net::error_kind::protocol:
            if (e.code_value() == net::errc::incomplete_stream)
                return {exit_api, "incomplete reply from " + where + " (" + e.what() +
                                      "); nothing was saved from this turn, try again"};
            return {exit_api, "the reply from " + where + " was unusable (" + e.what() + ")"};
        case net::error_kind::cancelled:
            return {exit_interrupted, "the request was cancelled"};
        case net::error_kind::config: {
            // Point at the setting the message is about: a key with a line break is no URL problem.
            const std::string what = e.what();
            const bool key = what.find("api_key") != std::string::npos;
            return {exit_usage, "invalid configuration: " + what +
                                    (key ? "; check ANTHROPIC_API_KEY (in the environment or .env)"
                                         : "; check ANTHROPIC_BASE_URL / --base-url and --ca-file")};
        }
    }
    return {exit_api, e.what()};
}

failure from_runtime_error(const rt::runtime_error& e) {
    switch (e.code_value()) {
        case rt::errc::unknown_agent:
            return {exit_usage, std::string(e.what()) + "; `engram agents` lists the agents"};
        case rt::errc::memory_error:
        case rt::errc::extraction_failed:
            return {exit_memory, e.what()};
        case rt::errc::message_too_large:
        case rt::errc::empty_message:
        case rt::errc::invalid_message:
        case rt::errc::invalid_agent:  // --model or an agent file the runtime refuses: the caller's input
            return {exit_usage, e.what()};
        default:
            return {exit_api, e.what()};
    }
}

}  // namespace

std::string one_line(std::string text, const std::string& api_key) {
    text = net::redact_key(std::move(text), api_key);
    // Other control characters (an escape sequence in a hostile user id) are not written to the
    // terminal raw either: C0 and DEL, the C1 controls (U+0080..U+009F: U+009B starts a sequence
    // as ESC [ does) and bytes that are not UTF-8 (a lone 0x9B is CSI to an 8-bit terminal).
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x80) {
            out += c == '\n' || c == '\r' || c == '\t' ? ' ' : (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
            ++i;
            continue;
        }
        const std::size_t n = memory::utf8_sequence_length(text, i);
        // Bidirectional overrides and isolates (U+202A..U+202E, U+2066..U+2069) reorder what
        // follows on screen: a user id or a remembered fact could show as something else.
        const auto next = [&](std::size_t k) { return static_cast<unsigned char>(text[i + k]); };
        const bool bidi = n == 3 && c == 0xE2 &&
                          ((next(1) == 0x80 && next(2) >= 0xAA && next(2) <= 0xAE) ||
                           (next(1) == 0x81 && next(2) >= 0xA6 && next(2) <= 0xA9));
        if (n == 0 || bidi || (c == 0xC2 && next(1) < 0xA0)) {
            out += '?';
            i += n == 0 ? 1 : n;
            continue;
        }
        out.append(text, i, n);
        i += n;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

failure describe(std::exception_ptr e, const error_context& ctx) {
    try {
        std::rethrow_exception(e);
    } catch (const cli_error& x) {
        return {x.code(), x.what()};
    } catch (const net::client_error& x) {
        return from_client_error(x, ctx);
    } catch (const rt::runtime_error& x) {
        return from_runtime_error(x);
    } catch (const memory::memory_error& x) {
        return {exit_memory, x.what()};
    } catch (const std::bad_alloc&) {
        return {exit_api, "out of memory"};
    } catch (const std::exception& x) {
        return {exit_api, x.what()};
    } catch (...) {
        return {exit_api, "unknown failure"};
    }
}

int report(const failure& f, const error_context& ctx) {
    std::cout.flush();
    std::cerr << "engram: error: " << one_line(f.message, ctx.api_key) << std::endl;
    return f.code;
}

}  // namespace engram::cli
