// The one Boost.Test entry point shared by every engram test binary.
#define BOOST_TEST_MODULE engram
#include <boost/test/unit_test.hpp>
