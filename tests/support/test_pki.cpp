#include "support/test_pki.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <unistd.h>

namespace engram::test {
namespace {

template <class T, void (*F)(T*)>
struct deleter {
    void operator()(T* p) const noexcept { F(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, deleter<EVP_PKEY, EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, deleter<X509, X509_free>>;
using bio_ptr = std::unique_ptr<BIO, deleter<BIO, BIO_free_all>>;

void check(bool ok, const char* what) {
    if (!ok) throw std::runtime_error(std::string("test PKI: ") + what);
}

pkey_ptr new_key() {
    pkey_ptr k(EVP_EC_gen("P-256"));
    check(k != nullptr, "EC key generation");
    return k;
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    check(ext != nullptr, "extension");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

x509_ptr make_cert(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuer_key, long serial, bool is_ca,
                   const char* san) {
    x509_ptr cert(X509_new());
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 7 * 24 * 3600);
    X509_set_pubkey(cert.get(), key);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("engram tests"), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
    X509* iss = issuer ? issuer : cert.get();
    X509_set_issuer_name(cert.get(), X509_get_subject_name(iss));
    if (is_ca) {
        add_ext(cert.get(), iss, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(cert.get(), iss, NID_key_usage, "critical,keyCertSign,cRLSign");
        add_ext(cert.get(), iss, NID_subject_key_identifier, "hash");
    } else {
        add_ext(cert.get(), iss, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(cert.get(), iss, NID_key_usage, "critical,digitalSignature");
        add_ext(cert.get(), iss, NID_ext_key_usage, "serverAuth");
        add_ext(cert.get(), iss, NID_subject_alt_name, san);
        add_ext(cert.get(), iss, NID_authority_key_identifier, "keyid:always");
    }
    check(X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256()) > 0, "sign");
    return cert;
}

std::string pem_of(X509* cert) {
    bio_ptr b(BIO_new(BIO_s_mem()));
    PEM_write_bio_X509(b.get(), cert);
    char* data = nullptr;
    long n = BIO_get_mem_data(b.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

std::string pem_of(EVP_PKEY* key) {
    bio_ptr b(BIO_new(BIO_s_mem()));
    PEM_write_bio_PrivateKey(b.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    long n = BIO_get_mem_data(b.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

struct pki_holder {
    test_pki value;
    pki_holder() {
        auto ca_key = new_key();
        auto ca = make_cert(ca_key.get(), "engram test CA", nullptr, nullptr, 1, true, nullptr);
        auto lk = new_key();
        auto lc = make_cert(lk.get(), "localhost", ca.get(), ca_key.get(), 2, false, "DNS:localhost,IP:127.0.0.1");
        auto ok = new_key();
        auto oc = make_cert(ok.get(), "other.example", ca.get(), ca_key.get(), 3, false, "DNS:other.example");
        value.ca = {pem_of(ca_key.get()), pem_of(ca.get())};
        value.localhost = {pem_of(lk.get()), pem_of(lc.get())};
        value.other_host = {pem_of(ok.get()), pem_of(oc.get())};
        value.ca_file = (std::filesystem::temp_directory_path() / ("engram-test-ca-" + std::to_string(getpid()) + ".pem")).string();
        std::ofstream(value.ca_file) << value.ca.cert_pem;
    }
    ~pki_holder() { std::remove(value.ca_file.c_str()); }
};

}  // namespace

const test_pki& pki() {
    static pki_holder holder;
    return holder.value;
}

}  // namespace engram::test
