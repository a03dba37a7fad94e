#include <engram/runtime/error.hpp>

namespace engram::runtime {
namespace {
class category final : public std::error_category {
public:
    const char* name() const noexcept override { return "engram.runtime"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::session_busy: return "session busy";
            case errc::session_ended: return "session ended";
            case errc::shutting_down: return "runtime shutting down";
            case errc::unknown_agent: return "unknown agent";
            case errc::vetoed: return "session vetoed by a hook";
            case errc::message_too_large: return "message exceeds the history budget";
            case errc::extraction_failed: return "memory extraction failed";
            case errc::memory_error: return "memory store error";
            case errc::not_started: return "runtime not started";
            case errc::resource_limit: return "process resource limit too low";
            case errc::empty_reply: return "the model's reply was empty";
            case errc::invalid_agent: return "invalid agent definition";
            case errc::empty_message: return "the message has no text";
            case errc::invalid_message: return "the message is not valid UTF-8";
            case errc::too_many_sessions: return "too many open sessions";
        }
        return "unknown engram.runtime error";
    }
};
}  // namespace

const std::error_category& runtime_category() noexcept {
    static const category instance;
    return instance;
}
}  // namespace engram::runtime
