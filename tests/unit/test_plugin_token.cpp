// presence::token: the tokens the plugin accepts, and every way one is refused.

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "presence/token/token.hpp"

using namespace presence::token;

namespace {

const std::string key = "unit-test-key-0123456789abcdef0123456789";
const std::string other_key = "another-key-0123456789abcdef0123456789ab";
constexpr std::int64_t now = 1'800'000'000;

}  // namespace

TEST_CASE("token_minted_with_the_key_verifies_with_subject_expiry_and_role") {
    const verdict app = verify(key, mint_token(key, "alice", now + 60), "alice", now);
    REQUIRE(app.ok());
    CHECK(app.granted.subject == "alice");
    CHECK(app.granted.expires_s == now + 60);
    CHECK(app.granted.granted == role::app);
    const verdict ctl = verify(key, mint_token(key, "ctl", now + 60, role::controller), "ctl", now);
    REQUIRE(ctl.ok());
    CHECK(ctl.granted.granted == role::controller);
    const verdict ops = verify(key, mint_token(key, "ops", now + 60, role::observer), "ops", now);
    REQUIRE(ops.ok());
    CHECK(ops.granted.granted == role::observer);
}

TEST_CASE("token_refusals_name_their_reason") {
    CHECK(verify(key, "", "alice", now).why == error::missing);
    CHECK(verify(key, std::string(max_token_bytes + 1, 'a'), "alice", now).why == error::too_long);
    CHECK(verify(key, "not-a-token", "alice", now).why == error::malformed);
    CHECK(verify(key, "a.b.c", "alice", now).why == error::malformed);
    CHECK(verify(key, "a..c", "alice", now).why == error::malformed);
    CHECK(verify(key, mint_token(other_key, "alice", now + 60), "alice", now).why ==
          error::bad_signature);
    CHECK(verify(key, mint_token(key, "alice", now - 1), "alice", now).why == error::expired);
    CHECK(verify(key, mint_token(key, "alice", now), "alice", now).why == error::expired);
    CHECK(verify(key, mint_token(key, "bob", now + 60), "alice", now).why == error::wrong_subject);
    CHECK(verify(key, mint_token(key, "alice", now + 60), "", now).why == error::wrong_subject);
}

TEST_CASE("token_with_a_tampered_payload_fails_its_signature") {
    const std::string good = mint_token(key, "alice", now + 60);
    const std::string forged_role = mint_token(key, "alice", now + 60, role::controller);
    // Header and signature of one token, payload (role controller) of another.
    const auto first_dot = good.find('.');
    const auto last_dot = good.rfind('.');
    const std::string spliced = good.substr(0, first_dot) +
                                forged_role.substr(first_dot, forged_role.rfind('.') - first_dot) +
                                good.substr(last_dot);
    CHECK(verify(key, spliced, "alice", now).why == error::bad_signature);
}

TEST_CASE("token_with_alg_none_is_refused") {
    // {"alg":"none","typ":"JWT"} . {"sub":"alice","exp":4000000000,"role":"controller"} . x
    const std::string none =
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
        "eyJzdWIiOiJhbGljZSIsImV4cCI6NDAwMDAwMDAwMCwicm9sZSI6ImNvbnRyb2xsZXIifQ.x";
    CHECK_FALSE(verify(key, none, "alice", now).ok());
}

TEST_CASE("token_role_must_be_app_controller_or_observer") {
    CHECK(parse_role("app") == role::app);
    CHECK(parse_role("controller") == role::controller);
    CHECK(parse_role("observer") == role::observer);
    CHECK(std::string(to_string(role::observer)) == "observer");
    CHECK_FALSE(parse_role("admin"));
    CHECK(std::string(to_string(error::bad_signature)) == "bad_signature");
    CHECK(std::string(to_string(role::controller)) == "controller");
}

TEST_CASE("mint_from_key_file_signs_with_the_file_key_and_refuses_what_the_plugin_would") {
    const auto dir =
        std::filesystem::temp_directory_path() / ("presence-mint-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto good = (dir / "good.key").string();
    const auto short_key = (dir / "short.key").string();
    std::ofstream(good) << key << '\n';
    std::ofstream(short_key) << "too-short\n";

    const std::string minted = mint_from_key_file(good, "alice", role::controller, 60, now);
    const verdict v = verify(key, minted, "alice", now + 59);
    CHECK(v.ok());
    CHECK(v.granted.granted == role::controller);
    CHECK(v.granted.expires_s == now + 60);
    CHECK(verify(key, minted, "alice", now + 61).why == error::expired);

    CHECK_THROWS_AS(mint_from_key_file(short_key, "alice", role::app, 60, now), mint_error);
    CHECK_THROWS_AS(mint_from_key_file((dir / "missing").string(), "alice", role::app, 60, now),
                    mint_error);
    CHECK_THROWS_AS(mint_from_key_file(good, "al/ice", role::app, 60, now), mint_error);
    CHECK_THROWS_AS(mint_from_key_file(good, "alice", role::app, 0, now), mint_error);
    std::filesystem::remove_all(dir);
}
