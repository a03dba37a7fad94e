// Reading the API's refusal of a prompt longer than the model's context.
#include "context_overflow.hpp"

#include <boost/test/unit_test.hpp>

namespace net = engram::net;
using engram::runtime::detail::context_fraction;

namespace {
net::client_error api_error(net::errc code, int status, std::string type, std::string message) {
    return net::client_error(code, "API error", net::api_error_details{status, std::move(type), std::move(message), "req_1"});
}
}  // namespace

BOOST_AUTO_TEST_SUITE(runtime_context_overflow)

BOOST_AUTO_TEST_CASE(a_prompt_too_long_400_gives_the_share_of_the_prompt_that_fits) {
    // The message as the API words it (quoted in anthropics/claude-code#12186).
    const auto f = context_fraction(api_error(net::errc::invalid_request, 400, "invalid_request_error",
                                              "prompt is too long: 208310 tokens > 200000 maximum"));
    BOOST_REQUIRE(f.has_value());
    BOOST_TEST(*f == 200000.0 / 208310.0, boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(a_prompt_too_long_400_without_counts_halves_the_prompt) {
    const auto f = context_fraction(api_error(net::errc::invalid_request, 400, "invalid_request_error", "prompt is too long"));
    BOOST_REQUIRE(f.has_value());
    BOOST_TEST(*f == 0.5);
}

BOOST_AUTO_TEST_CASE(other_errors_are_no_context_overflow) {
    // Another 400 (this one from ../shared/fixtures/errors/400_invalid_request_error.json).
    BOOST_TEST(!context_fraction(api_error(net::errc::invalid_request, 400, "invalid_request_error",
                                           "This model does not support effort level 'xhigh'. Supported levels: high, low, max, medium."))
                    .has_value());
    BOOST_TEST(!context_fraction(api_error(net::errc::request_too_large, 413, "request_too_large",
                                           "prompt is too long: 3 tokens > 2 maximum"))
                    .has_value());  // the 413 is told apart by its code
    BOOST_TEST(!context_fraction(net::client_error(net::errc::invalid_request, "prompt is too long")).has_value());  // no API body
}

BOOST_AUTO_TEST_SUITE_END()
