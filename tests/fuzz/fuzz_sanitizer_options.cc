// Linked into every fuzz target. The libraries are built with
// -fsanitize=undefined but without -fno-sanitize-recover, so an
// UndefinedBehaviorSanitizer report would only be printed and libFuzzer
// would not keep the input: halt on the first one instead, with its stack.
// (Unused in builds without the sanitizer.)
extern "C" const char* __ubsan_default_options() {
  return "halt_on_error=1:print_stacktrace=1";
}
