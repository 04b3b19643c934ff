#!/bin/sh
# The linker cargo calls (.cargo/config.toml): cc as rustc asks for it,
# with mold when it is installed (ci/setup.sh installs it; it links
# fastest). Without mold, rustc's own choice stands (rust-lld on x86_64
# Linux), so a plain `cargo build` works on any machine.
if command -v mold >/dev/null 2>&1; then
    # Last: it overrides the -fuse-ld rustc passes.
    exec cc "$@" -fuse-ld=mold
fi
exec cc "$@"
