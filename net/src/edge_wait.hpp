// A wait for a plain socket's next input that does not re-arm it in epoll (private to net/).
#pragma once

#include <chrono>
#include <memory>
#include <type_traits>
#include <utility>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/version.hpp>

// Asio's reactor is reached through its detail namespace, as it stands in Boost 1.81 on Linux
// (epoll). Any other version or reactor gets the plain async_wait, which is always correct.
#if BOOST_VERSION == 108100 && defined(BOOST_ASIO_HAS_EPOLL) && !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#define ENGRAM_NET_EDGE_WAIT 1
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/query.hpp>
#else
#define ENGRAM_NET_EDGE_WAIT 0
#endif

namespace engram::net::detail {

/// Whether async_wait_for_input() can skip the re-arm (else it is Asio's async_wait).
inline constexpr bool edge_waits = ENGRAM_NET_EDGE_WAIT == 1;

/// How long a wait that is not re-armed goes before the watchdog looks at the socket for input
/// that raised no edge (a close that came with the last bytes): such a close is reported that
/// much later, and a silent stream costs one look per silence, not one per wait.
inline constexpr std::chrono::milliseconds hidden_input_probe{250};

// Why: Asio registers a socket with epoll once, edge-triggered, and its async_wait re-arms it
// (an epoll_ctl call) every time, so that input which came before the wait still wakes it. A
// stream waits once for each piece the server writes, and that call was about a tenth of a
// streaming client's CPU. This wait is queued the way a read is: an edge that came while nothing
// waited makes the reactor try the next wait at once, and no call is made otherwise.
//
// What it cannot see: bytes and the close (or a reset) that reached the socket before the one
// edge they raised was taken. One read takes both; the close then raises nothing more, and the
// next wait would never end. So a wait for input that is not re-armed must have a probe behind
// it (io_watchdog::begin_input_wait), and a read that filled its buffer, leaving input behind
// without an edge to come, must be followed by a re-armed wait (`rearm`).
#if ENGRAM_NET_EDGE_WAIT
namespace edge_wait_impl {
namespace asio = boost::asio;
using socket_type = asio::ip::tcp::socket;

/// basic_socket's implementation is a protected member: named through a derived class, a
/// pointer to it is one to the base's member, usable on any socket.
struct socket_access : socket_type {
    static auto& implementation(socket_type& s) {
        constexpr auto member = &socket_access::impl_;
        return (s.*member).get_implementation();
    }
};

/// The reactor operation: like Asio's reactive_wait_op, but it reports the socket drained
/// ("done and exhausted"), so that the reactor does not try the next wait before a new edge.
template <class Handler, class IoExecutor>
class op : public asio::detail::reactor_op {
public:
    BOOST_ASIO_DEFINE_HANDLER_PTR(op);

    op(Handler& handler, const IoExecutor& io_ex)
        : reactor_op(boost::system::error_code(), &op::do_perform, &op::do_complete),
          handler_(std::move(handler)),
          work_(handler_, io_ex) {}

    static status do_perform(reactor_op*) { return done_and_exhausted; }

    static void do_complete(void* owner, asio::detail::operation* base, const boost::system::error_code&, std::size_t) {
        auto* o = static_cast<op*>(base);
        ptr p = {std::addressof(o->handler_), o, o};
        asio::detail::handler_work<Handler, IoExecutor> w(std::move(o->work_));
        // The handler is moved out before the operation's memory is freed (it may own it).
        asio::detail::binder1<Handler, boost::system::error_code> handler(o->handler_, o->ec_);
        p.h = std::addressof(handler.handler_);
        p.reset();
        if (owner) {
            asio::detail::fenced_block b(asio::detail::fenced_block::half);
            w.complete(handler, handler.handler_);
        }
    }

private:
    Handler handler_;
    asio::detail::handler_work<Handler, IoExecutor> work_;
};

/// Per-operation cancellation, as Asio's own socket operations have it.
class cancellation {
public:
    cancellation(asio::detail::reactor* r, asio::detail::reactor::per_descriptor_data* data, int descriptor)
        : reactor_(r), data_(data), descriptor_(descriptor) {}
    void operator()(asio::cancellation_type_t type) {
        if (!!(type & (asio::cancellation_type::terminal | asio::cancellation_type::partial | asio::cancellation_type::total)))
            reactor_->cancel_ops_by_key(descriptor_, *data_, asio::detail::reactor::read_op, this);
    }

private:
    asio::detail::reactor* reactor_;
    asio::detail::reactor::per_descriptor_data* data_;
    int descriptor_;
};

struct initiate {
    template <class Handler>
    void operator()(Handler&& h, socket_type* s, bool rearm) const {
        using handler_type = std::decay_t<Handler>;
        using op_type = op<handler_type, socket_type::executor_type>;
        handler_type handler(std::forward<Handler>(h));
        auto& impl = socket_access::implementation(*s);
        auto& reactor = asio::use_service<asio::detail::reactor>(asio::query(s->get_executor(), asio::execution::context));
        auto slot = asio::get_associated_cancellation_slot(handler);
        typename op_type::ptr p = {std::addressof(handler), op_type::ptr::allocate(handler), nullptr};
        p.p = new (p.v) op_type(handler, s->get_executor());
        if (slot.is_connected())
            p.p->cancellation_key_ = &slot.template emplace<cancellation>(&reactor, &impl.reactor_data_, impl.socket_);
        // Started as a read (speculative allowed): queued without an epoll_ctl call. Not
        // speculative: Asio's async_wait path, which re-arms.
        reactor.start_op(asio::detail::reactor::read_op, impl.socket_, impl.reactor_data_, p.p, false, !rearm);
        p.v = p.p = nullptr;
    }
};
}  // namespace edge_wait_impl
#endif

/// Waits until the plain socket `s` has input (bytes, its close or an error), completing with
/// an error_code as async_wait(wait_read) does. Unless `rearm`, the wait is not re-armed in
/// epoll; see above for what the caller must then do.
template <class Token>
auto async_wait_for_input(boost::asio::ip::tcp::socket& s, bool rearm, Token&& token) {
#if ENGRAM_NET_EDGE_WAIT
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(edge_wait_impl::initiate{}, token, &s, rearm);
#else
    (void)rearm;
    return s.async_wait(boost::asio::ip::tcp::socket::wait_read, std::forward<Token>(token));
#endif
}

}  // namespace engram::net::detail
