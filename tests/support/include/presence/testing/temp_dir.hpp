#pragma once
// Scratch directories and loopback ports for tests that run real processes side by side.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace presence::testing {

// A fresh directory under the system temp dir, removed on destruction so parallel test cases
// never share broker state; set PRESENCE_KEEP_TEMP=1 (or call keep()) to inspect it afterwards.
class temp_dir {
  public:
    explicit temp_dir(std::string_view prefix = "presence-test");
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    // The directory's absolute path.
    const std::filesystem::path& path() const { return path_; }
    // Leaves the directory in place, for post-mortem reading of logs.
    void keep() { keep_ = true; }

  private:
    std::filesystem::path path_;
    bool keep_ = false;
};

// A TCP port on 127.0.0.1 that was free a moment ago, so each test case gets its own broker.
std::uint16_t free_port();

// Whether something accepts TCP connections on 127.0.0.1:port right now.
bool port_accepts(std::uint16_t port);

// The last `lines` lines of a text file (empty when unreadable), for failure messages.
std::string file_tail(const std::filesystem::path& file, std::size_t lines = 40);

}  // namespace presence::testing
