// Whether a failure is a cancelled request or turn, as every engram API reports it.
#pragma once

#include <exception>

#include <engram/net/error.hpp>

namespace engram::test {

/// True if `e` holds net::client_error(errc::cancelled); false for no exception or any other.
inline bool is_cancelled(std::exception_ptr e) {
    try {
        if (e) std::rethrow_exception(e);
    } catch (const engram::net::client_error& c) {
        return c.code_value() == engram::net::errc::cancelled;
    } catch (...) {
    }
    return false;
}

}  // namespace engram::test
