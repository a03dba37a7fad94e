// A throw-away certificate authority made for each test run (OpenSSL, in memory).
#pragma once

#include <string>
#include <vector>

namespace engram::test {

struct key_and_cert {
    std::string key_pem;
    std::string cert_pem;
};

struct test_pki {
    key_and_cert ca;
    key_and_cert localhost;   ///< CN=localhost, SAN DNS:localhost and IP:127.0.0.1, signed by ca
    key_and_cert other_host;  ///< SAN DNS:other.example only, signed by ca
    std::string ca_file;      ///< ca.cert_pem written to a temporary file (removed at exit)
};

/// Generates (once per process) a CA and two leaf certificates with P-256 keys.
const test_pki& pki();

}  // namespace engram::test
