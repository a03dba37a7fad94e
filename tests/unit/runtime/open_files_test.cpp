// runtime_config::min_open_files: the soft RLIMIT_NOFILE is raised when the hard limit allows,
// and a limit that cannot be reached is a clear message, not a silent shortfall.
#include <sys/resource.h>

#include <boost/test/unit_test.hpp>

#include "open_files.hpp"

using engram::runtime::detail::ensure_open_files;

namespace {

rlimit current() {
    rlimit rl{};
    BOOST_REQUIRE(::getrlimit(RLIMIT_NOFILE, &rl) == 0);
    return rl;
}

// Puts the limits back as they were when the test started.
struct restore_limits {
    rlimit saved = current();
    ~restore_limits() { ::setrlimit(RLIMIT_NOFILE, &saved); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(open_files)

BOOST_AUTO_TEST_CASE(a_lower_soft_limit_is_raised_to_what_is_wanted) {
    restore_limits guard;
    const auto start = current();
    if (start.rlim_max != RLIM_INFINITY && start.rlim_max < 128) {
        BOOST_TEST_MESSAGE("skipped: the hard open-file limit is below 128");
        return;
    }
    rlimit low = start;
    low.rlim_cur = 64;
    BOOST_REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    BOOST_TEST(ensure_open_files(100) == "");
    BOOST_TEST(current().rlim_cur == 100u);
    BOOST_TEST(ensure_open_files(50) == "");  // never lowered
    BOOST_TEST(current().rlim_cur == 100u);
}

BOOST_AUTO_TEST_CASE(beyond_the_hard_limit_the_soft_limit_goes_to_the_hard_one_and_the_message_says_so) {
    restore_limits guard;
    const auto start = current();
    if (start.rlim_max == RLIM_INFINITY) {
        BOOST_TEST_MESSAGE("skipped: no hard open-file limit to run into");
        return;
    }
    const auto why = ensure_open_files(static_cast<std::size_t>(start.rlim_max) + 1000);
    BOOST_TEST(why.find("hard") != std::string::npos, why);
    BOOST_TEST(why.find("min_open_files") != std::string::npos, why);
    BOOST_TEST(current().rlim_cur == start.rlim_max);
}

BOOST_AUTO_TEST_SUITE_END()
