#!/bin/bash
# Builds build/asan/ngx_http_nitro_attest_module.so: the module and the core
# compiled with AddressSanitizer and UndefinedBehaviorSanitizer, otherwise
# with the exact flags of Debian's nginx (the module signature must match).
# Debian's nginx itself is not instrumented: it runs with gcc's ASan runtime
# preloaded (scripts/nginx-asan), which then sees every malloc and free of
# the process and checks every access the module and the core make.
exec "$(dirname "$0")/build-module.sh" asan
