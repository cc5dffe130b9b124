#include "net.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace presence::bench {

struct net_loop::conn {
    int fd = -1;
    enum class phase { queued, tcp, mqtt, up, closed } state = phase::queued;
    connect_fields fields;
    std::string out;
    std::size_t out_off = 0;
    packet_reader in;
    bool silent = false;
    bool want_write = false;
    bool close_after_flush = false;
    std::uint16_t keepalive_s = 0;
    clock_type::time_point last_sent{};
    std::uint64_t bytes_in = 0;
};

namespace {

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error(what + ": " + std::strerror(errno));
}

std::uint64_t key(conn_id id) { return static_cast<std::uint64_t>(id); }

}  // namespace

std::uint64_t raise_fd_limit(std::uint64_t n) {
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur >= n) return lim.rlim_cur;
    rlimit want{n, std::max<rlim_t>(lim.rlim_max, n)};
    if (::setrlimit(RLIMIT_NOFILE, &want) != 0) {
        want = {lim.rlim_max, lim.rlim_max};
        ::setrlimit(RLIMIT_NOFILE, &want);
    }
    ::getrlimit(RLIMIT_NOFILE, &lim);
    return lim.rlim_cur;
}

net_loop::net_loop(std::uint16_t port, net_handler handler, net_options options)
    : port_(port), handler_(std::move(handler)), options_(options), rbuf_(256 * 1024) {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) fail("epoll_create1");
}

net_loop::~net_loop() {
    for (auto& c : conns_) {
        if (c && c->fd >= 0) ::close(c->fd);
    }
    ::close(epfd_);
}

conn_id net_loop::open(const connect_fields& connect) {
    const auto id = static_cast<conn_id>(conns_.size());
    auto c = std::make_unique<conn>();
    c->fields = connect;
    c->keepalive_s = connect.keepalive_s;
    conns_.push_back(std::move(c));
    pending_connects_.push_back(id);
    return id;
}

void net_loop::start_tcp(conn_id id) {
    auto& c = *conns_[id];
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {  // out of descriptors: count it and report the connection closed
        ++failed_;
        c.state = conn::phase::closed;
        if (handler_.on_closed) handler_.on_closed(id);
        return;
    }
    int one = 1;
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    const auto n = static_cast<std::uint32_t>(std::max(1, options_.source_addresses));
    src.sin_addr.s_addr = htonl((127u << 24) | (1u << 8) | (1u + id % n));
    if (::bind(c.fd, reinterpret_cast<const sockaddr*>(&src), sizeof src) != 0) fail("bind");
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(port_);
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&dst), sizeof dst) != 0 &&
        errno != EINPROGRESS) {
        ++failed_;
        ::close(c.fd);
        c.fd = -1;
        c.state = conn::phase::closed;
        if (handler_.on_closed) handler_.on_closed(id);
        return;
    }
    c.state = conn::phase::tcp;
    c.last_sent = clock_type::now();
    ++connecting_;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u64 = key(id);
    c.want_write = true;
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, c.fd, &ev) != 0) fail("epoll_ctl add");
}

void net_loop::watch(conn_id id, bool want_write) {
    auto& c = *conns_[id];
    if (c.fd < 0 || c.want_write == want_write) return;
    c.want_write = want_write;
    epoll_event ev{};
    ev.events = EPOLLIN | (want_write ? EPOLLOUT : 0u);
    ev.data.u64 = key(id);
    ::epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev);
}

void net_loop::send(conn_id id, std::string_view bytes) {
    auto& c = *conns_[id];
    if (c.state == conn::phase::closed || c.silent) return;
    c.out.append(bytes);
    c.last_sent = clock_type::now();
    if (c.state == conn::phase::up || c.state == conn::phase::mqtt) flush(id);
}

void net_loop::flush(conn_id id) {
    auto& c = *conns_[id];
    while (c.out_off < c.out.size()) {
        const auto n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off,
                              MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                watch(id, true);
                return;
            }
            close_conn(id, true);
            return;
        }
        c.out_off += static_cast<std::size_t>(n);
    }
    c.out.clear();
    c.out_off = 0;
    watch(id, false);
    if (c.close_after_flush) close_conn(id, false);
}

void net_loop::drop(conn_id id) { close_conn(id, false); }

void net_loop::disconnect(conn_id id) {
    auto& c = *conns_[id];
    if (c.state == conn::phase::closed) return;
    if (c.state != conn::phase::up) {
        close_conn(id, false);
        return;
    }
    c.close_after_flush = true;
    send(id, encode_disconnect_packet());
}

void net_loop::silence(conn_id id) { conns_[id]->silent = true; }

bool net_loop::open_now(conn_id id) const {
    return id < conns_.size() && conns_[id]->state != conn::phase::closed;
}

bool net_loop::connected(conn_id id) const {
    return id < conns_.size() && conns_[id]->state == conn::phase::up;
}

std::uint64_t net_loop::bytes_in(conn_id id) const { return conns_[id]->bytes_in; }

void net_loop::close_conn(conn_id id, bool notify) {
    auto& c = *conns_[id];
    if (c.state == conn::phase::closed) return;
    if (c.state == conn::phase::tcp || c.state == conn::phase::mqtt) {
        --connecting_;
        if (notify) ++failed_;
    }
    if (c.state == conn::phase::up) --live_;
    const bool was_queued = c.state == conn::phase::queued;
    c.state = conn::phase::closed;
    if (c.fd >= 0) {
        ::epoll_ctl(epfd_, EPOLL_CTL_DEL, c.fd, nullptr);
        ::close(c.fd);
        c.fd = -1;
    }
    c.out.clear();
    c.out.shrink_to_fit();
    if (notify && !was_queued && handler_.on_closed) handler_.on_closed(id);
}

void net_loop::on_writable(conn_id id) {
    auto& c = *conns_[id];
    if (c.state == conn::phase::tcp) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            close_conn(id, true);
            return;
        }
        c.state = conn::phase::mqtt;
        c.out.insert(0, encode_connect_packet(c.fields));
        c.last_sent = clock_type::now();
    }
    flush(id);
}

void net_loop::on_readable(conn_id id) {
    auto& c = *conns_[id];
    for (;;) {
        const auto n = ::recv(c.fd, rbuf_.data(), rbuf_.size(), 0);
        if (n == 0) {
            close_conn(id, true);
            return;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            close_conn(id, true);
            return;
        }
        c.bytes_in += static_cast<std::uint64_t>(n);
        c.in.feed(rbuf_.data(), static_cast<std::size_t>(n));
        if (static_cast<std::size_t>(n) < rbuf_.size()) break;
    }
    const auto now = clock_type::now();
    try {
        while (auto p = c.in.next()) {
            switch (p->type) {
                case 2:
                    if (c.state == conn::phase::mqtt) {
                        --connecting_;
                        if (p->connack_code == 0) {
                            c.state = conn::phase::up;
                            ++live_;
                        }
                    }
                    if (handler_.on_connack) handler_.on_connack(id, p->connack_code);
                    if (p->connack_code != 0) {
                        close_conn(id, false);
                        return;
                    }
                    break;
                case 3:
                    if (((p->flags >> 1) & 3) == 1 && !c.silent) {
                        send(id, encode_puback_packet(p->packet_id));
                    }
                    if (handler_.on_publish) handler_.on_publish(id, *p, now);
                    if (c.state == conn::phase::closed) return;
                    break;
                default:
                    break;
            }
        }
    } catch (const std::exception&) {
        close_conn(id, true);
    }
}

void net_loop::ping_sweep(clock_type::time_point now) {
    const auto ping = encode_pingreq_packet();
    for (std::size_t i = 0; i < conns_.size(); ++i) {
        auto& c = *conns_[i];
        if ((c.state == conn::phase::tcp || c.state == conn::phase::mqtt) &&
            now - c.last_sent > std::chrono::seconds(15)) {
            close_conn(static_cast<conn_id>(i), true);  // a broker out of descriptors never answers
            continue;
        }
        if (c.state != conn::phase::up || c.silent || c.keepalive_s == 0) continue;
        if (now - c.last_sent >= std::chrono::seconds(c.keepalive_s) / 2) {
            send(static_cast<conn_id>(i), ping);
        }
    }
}

void net_loop::poll(std::chrono::milliseconds timeout) {
    while (pending_head_ < pending_connects_.size() &&
           connecting_ < static_cast<std::size_t>(options_.max_connecting)) {
        const auto id = pending_connects_[pending_head_++];
        if (conns_[id]->state == conn::phase::queued) start_tcp(id);
    }
    if (pending_head_ == pending_connects_.size()) {
        pending_connects_.clear();
        pending_head_ = 0;
    }
    epoll_event events[512];
    const int n = ::epoll_wait(epfd_, events, 512, static_cast<int>(timeout.count()));
    if (n < 0 && errno != EINTR) fail("epoll_wait");
    for (int i = 0; i < n; ++i) {
        const auto id = static_cast<conn_id>(events[i].data.u64);
        auto& c = *conns_[id];
        if (c.state == conn::phase::closed) continue;
        if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
            if (c.state == conn::phase::tcp) {
                on_writable(id);
                if (c.state == conn::phase::closed) continue;
            }
            on_readable(id);
        }
        if (c.state != conn::phase::closed && (events[i].events & EPOLLOUT)) on_writable(id);
    }
    const auto now = clock_type::now();
    // Every 20 ms, so each connection pings on its own phase (keepalive / 2 after its last
    // packet), as a real fleet does. A once-a-second sweep sent ~1/5 of all pings in one burst,
    // and the broker's answer to it delayed every message behind it by 10-20 ms: that was most
    // of the raw hop's p99 at 10,000 devices (docs/benchmarks.md).
    if (now >= next_ping_sweep_) {
        next_ping_sweep_ = now + std::chrono::milliseconds(20);
        ping_sweep(now);
    }
}

}  // namespace presence::bench
