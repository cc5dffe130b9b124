#pragma once
// One isolated product stack per test case: a mosquitto from a shipped config on a free port, a
// presence-controller with a short grace period, and an observer watching every output.

#include <memory>
#include <string>
#include <vector>

#include "presence/testing/app_device.hpp"
#include "presence/testing/broker.hpp"
#include "presence/testing/controller_process.hpp"
#include "presence/testing/observer.hpp"
#include "presence/testing/raw_device.hpp"
#include "presence/testing/tokens.hpp"
#include "presence/wire/wire.hpp"

namespace presence::testing {

// What a scenario needs to differ from the default development stack.
struct stack_options {
    std::string grace = "2s";
    broker_options broker;
    std::string controller_username;
    std::string controller_password;
    observer_options observer;
    std::vector<std::string> controller_args;  // extra presence-controller flags
};

// Broker, controller (ready) and observer, torn down in reverse order.
struct stack {
    explicit stack(stack_options options = {})
        : broker_(options.broker), controller_(controller_for(options, broker_), broker_.dir()) {
        controller_.start_ready();
        std::vector<std::string> topics{"party/+/members", "party/+/events",
                                        "presence/controller/stats", "presence/user/+"};
        // The controller's private records, where the observer may read them (no ACL, or the
        // controller's own role): tests of sessions and broker connections look there.
        if (options.observer.username.empty() || options.observer.username == controller_user) {
            topics.push_back(std::string(wire::controller_state_subscription));
        }
        watch = std::make_unique<observer>(broker_.uri(), topics, options.observer);
    }

    // Settings of an app device on this stack's broker.
    static app_options app(std::string user, std::string device) {
        app_options o;
        o.user = std::move(user);
        o.device = std::move(device);
        o.profile.display_name = o.user;
        return o;
    }

    static controller_options controller_for(const stack_options& options, const broker& b) {
        controller_options c;
        c.broker_uri = b.uri();
        c.username = options.controller_username;
        c.password = options.controller_password;
        c.grace = options.grace;
        c.extra_args = options.controller_args;
        return c;
    }

    broker broker_;
    controller_process controller_;
    std::unique_ptr<observer> watch;
};

// Ends a scenario: the controller must shut down cleanly on SIGTERM (exit code 0; under the
// sanitizer build a leak or UB report at exit fails the case here).
inline int stop_controller(stack& s) { return s.controller_.stop(); }

// A stack whose broker loads the plugin (dev.conf): the controller and the observer log in with
// the controller's role, so the observer also reads the controller's private records.
inline stack_options plugin_stack_options(std::string grace) {
    stack_options o;
    o.grace = std::move(grace);
    o.broker.config = "dev";
    o.controller_username = std::string(controller_user);
    o.controller_password = mint_test_token(controller_user, token::role::controller);
    o.observer.username = std::string(controller_user);
    o.observer.password = mint_test_token(controller_user, token::role::controller);
    o.observer.sync_topic = true;
    return o;
}

// An app device with a token for its user, as the plugin requires.
inline app_options app_with_token(std::string user, std::string device) {
    app_options o = stack::app(user, std::move(device));
    o.password = mint_test_token(user);
    return o;
}

// Whether a member is listed and shown present.
inline bool is_present(const core::party_snapshot* s, std::string_view user) {
    const auto* m = find_member(s, user);
    return m != nullptr && m->state == core::member_state::present;
}

}  // namespace presence::testing
