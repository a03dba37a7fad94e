// Compiles Boost.Beast once for the whole project.
#include <boost/beast/src.hpp>
