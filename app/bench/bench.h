#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace skyreels::bench {

// --key value options of a bench command.
class Args {
public:
  Args(const std::vector<std::string>& argv);
  std::string get(const std::string& key, const std::string& fallback) const;
  long long get_int(const std::string& key, long long fallback) const;
  bool has(const std::string& key) const { return values_.count(key) != 0; }

private:
  std::map<std::string, std::string> values_;
};

// Appends the result as one JSON line to --json FILE when given.
void emit(const Args& args, const nlohmann::json& result);

int run_dit(const Args& args);
int run_t5(const Args& args);
int run_vae(const Args& args);

}  // namespace skyreels::bench
