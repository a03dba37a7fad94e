#include <engram/agents/error.hpp>

#include <string>

namespace engram::agents {

namespace {

class category final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "engram.agents"; }

    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::invalid_agent:
                return "invalid agent definition";
            case errc::agent_file_unreadable:
                return "agent file could not be read";
            case errc::agent_file_syntax:
                return "agent file is not valid JSON";
        }
        return "unknown engram.agents error " + std::to_string(ev);
    }
};

}  // namespace

const boost::system::error_category& agents_category() noexcept {
    static const category instance;
    return instance;
}

}  // namespace engram::agents
