// Compiles Boost.Asio once for the whole project (see cmake/EngramBoostCompiled.cmake).
#include <boost/asio/impl/src.hpp>
