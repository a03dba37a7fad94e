#include "host_resolver.hpp"

#include <algorithm>

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

namespace engram::net::detail {

namespace asio = boost::asio;

struct host_resolver::lookup {
    bool done = false;
    outcome result;
    std::vector<std::shared_ptr<asio::steady_timer>> waiters;
};

host_resolver::host_resolver(asio::any_io_executor executor, std::string host, std::string port,
                             std::chrono::milliseconds ttl, lookup_function lookup)
    : host_(std::move(host)), port_(std::move(port)), ttl_(ttl), lookup_(std::move(lookup)) {
    if (!lookup_)
        lookup_ = [executor](const std::string& h, const std::string& p, completion done) {
            auto r = std::make_shared<asio::ip::tcp::resolver>(executor);
            r->async_resolve(h, p, [r, done = std::move(done)](boost::system::error_code ec, results_type found) {
                done(ec, std::move(found));
            });
        };
}

host_resolver::ticket host_resolver::join(const asio::any_io_executor& caller, clock::time_point until) {
    ticket t;
    bool start = false;
    {
        std::lock_guard lock(mutex_);
        if (current_ && current_->done && !current_->result.error && clock::now() < fresh_until_) {
            t.ready = current_->result.results;
            return t;
        }
        if (!current_ || current_->done) {
            current_ = std::make_shared<lookup>();
            ++lookups_;
            start = true;
        }
        t.pending = current_;
        // On a strand of its own: the lookup's end (any thread) and the wait's start (the
        // caller's thread, which need not be a strand's) then never touch it at once.
        t.timer = std::make_shared<asio::steady_timer>(asio::make_strand(caller), until);
        current_->waiters.push_back(t.timer);
    }
    if (start) {
        // Started outside the lock: a lookup function may complete at once, on this thread.
        lookup_(host_, port_, [self = shared_from_this(), l = t.pending](boost::system::error_code ec, results_type found) {
            self->finished(l, ec, std::move(found));
        });
    }
    return t;
}

void host_resolver::finished(const std::shared_ptr<lookup>& l, boost::system::error_code ec, results_type results) {
    std::vector<std::shared_ptr<asio::steady_timer>> wake;
    {
        std::lock_guard lock(mutex_);
        l->done = true;
        l->result = outcome{ec, std::move(results)};
        if (!ec && l == current_) fresh_until_ = clock::now() + ttl_;
        wake.swap(l->waiters);
    }
    // Each timer belongs to its waiting coroutine's executor: it is ended there. Expiring it,
    // rather than cancelling the wait, also ends a wait that has not begun yet.
    for (auto& w : wake) asio::post(w->get_executor(), [w] { w->expires_at(clock::time_point::min()); });
}

std::optional<host_resolver::outcome> host_resolver::leave(const ticket& t) {
    std::lock_guard lock(mutex_);
    std::erase(t.pending->waiters, t.timer);
    if (!t.pending->done) return std::nullopt;
    return t.pending->result;
}

std::uint64_t host_resolver::lookups() const {
    std::lock_guard lock(mutex_);
    return lookups_;
}

}  // namespace engram::net::detail
