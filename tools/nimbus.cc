// nimbus: the command-line tool of Nimbus, a human interface over nimbusd's
// gRPC API (tools/nimbus_cli.h; `nimbus --help`).
//
//   nimbus [--endpoint host:port] [--timeout 10s] COMMAND [flags] [args]
//
// Exit codes: 0 success; 1 the server returned an error; 2 a usage error;
// 3 the server cannot be reached.
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "tools/nimbus_cli.h"

int main(int argc, char** argv) {
  nimbus::cli::Environment env;
  if (const char* e = std::getenv("NIMBUS_ENDPOINT")) env.endpoint = e;
  const bool tty = isatty(STDOUT_FILENO) == 1;
  env.color = tty && std::getenv("NO_COLOR") == nullptr;
  env.width = 120;
  winsize ws{};
  if (tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    env.width = ws.ws_col;
  } else if (const char* c = std::getenv("COLUMNS")) {
    const int n = std::atoi(c);
    if (n > 0) env.width = n;
  }
  env.in = &std::cin;
  const std::vector<std::string> args(argv + 1, argv + argc);
  const int code = nimbus::cli::Run(args, env, std::cout, std::cerr);
  std::cout.flush();
  return code;
}
