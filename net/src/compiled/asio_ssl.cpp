// Compiles Boost.Asio's OpenSSL layer once for the whole project.
#include <boost/asio/ssl/impl/src.hpp>
