// Every broker config the project ships must start a real mosquitto 2.0.11 and accept clients.

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "presence/testing/broker.hpp"
#include "presence/testing/observer.hpp"
#include "presence/testing/tokens.hpp"

using namespace presence::testing;

TEST_CASE("mosquitto_configs_load") {
    temp_dir scratch("presence-conf");
    const auto passwd = scratch.path() / "passwd";
    make_password_file(passwd, {{"presence-controller", "controller-secret"}});
    // Only a config without the plugin would read these (none ships one today).
    const auto acl = scratch.path() / "acl";
    std::ofstream(acl) << "pattern readwrite #\n";

    int configs = 0;
    for (const auto& entry : std::filesystem::directory_iterator(source_dir() / "mosquitto-conf")) {
        if (entry.path().extension() != ".conf") continue;
        ++configs;
        const std::string name = entry.path().stem().string();
        CAPTURE(name);
        broker b({name, passwd, acl});
        CHECK(b.running());
        // An authenticated client works under every config, anonymous or not; configs with the
        // presence plugin take a token (signed with the development key the test broker uses).
        observer_options login;
        login.username = "presence-controller";
        login.password = config_uses_plugin(name)
                             ? mint_test_token(controller_user, presence::token::role::controller)
                             : "controller-secret";
        login.sync_topic = false;
        CHECK_NOTHROW(observer(b.uri(), {"presence/controller/status"}, login));
    }
    CHECK(configs >= 4);
}

TEST_CASE("rewrite_config_pins_port_paths_and_drops_file_logging") {
    const std::string text =
        "listener 1883\n# listener 8883\npersistence_location /var/lib/mosquitto/\n"
        "password_file /etc/p\nacl_file /etc/a\nlog_dest file /var/log/m.log\nlog_dest stdout\n";
    const std::string out = rewrite_config(text, {4242, "/tmp/state", "/tmp/pw", "/tmp/acl", {}, {}, {}});
    CHECK(out.find("listener 4242 127.0.0.1\n") != std::string::npos);
    CHECK(out.find("# listener 8883\n") != std::string::npos);
    CHECK(out.find("persistence_location /tmp/state/\n") != std::string::npos);
    CHECK(out.find("password_file /tmp/pw\n") != std::string::npos);
    CHECK(out.find("acl_file /tmp/acl\n") != std::string::npos);
    CHECK(out.find("log_dest file") == std::string::npos);
    CHECK(out.find("log_dest stdout\n") != std::string::npos);
    CHECK_THROWS(rewrite_config("password_file /etc/p\n", {4242, "/tmp/state", {}, {}, {}, {}, {}}));
}

TEST_CASE("rewrite_config_points_at_the_built_plugin_and_gives_each_listener_a_port") {
    const std::string text =
        "listener 1883\nlistener 9001\nprotocol websockets\nhttp_dir /srv/presence-web\n"
        "plugin /usr/lib/mosquitto/mosquitto_presence.so\n"
        "plugin_opt_jwt_key_file /run/secrets/presence_jwt_key\n";
    const std::string out = rewrite_config(
        text, {4242, "/tmp/state", {}, {}, "/build/mosquitto_presence.so", "/src/key", {4343}});
    CHECK(out.find("listener 4242 127.0.0.1\n") != std::string::npos);
    CHECK(out.find("listener 4343 127.0.0.1\n") != std::string::npos);
    CHECK(out.find("http_dir") == std::string::npos);
    CHECK(out.find("plugin /build/mosquitto_presence.so\n") != std::string::npos);
    CHECK(out.find("plugin_opt_jwt_key_file /src/key\n") != std::string::npos);
    CHECK_THROWS(rewrite_config("plugin /x.so\n", {4242, "/tmp/state", {}, {}, {}, {}, {}}));
}
