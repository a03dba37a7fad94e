#include <engram/net/client_config.hpp>

#include <cstdlib>

namespace engram::net {

client_config client_config::from_env() {
    client_config c;
    if (const char* url = std::getenv("ANTHROPIC_BASE_URL"); url && *url) c.base_url = url;
    if (const char* key = std::getenv("ANTHROPIC_API_KEY"); key && *key) c.api_key = key;
    return c;
}

}  // namespace engram::net
