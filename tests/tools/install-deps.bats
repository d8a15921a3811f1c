#!/usr/bin/env bats
# .ci/install-deps, run against a fake apt-get that records what it was asked to install.
load helpers

setup() {
    cd "$BATS_TEST_TMPDIR"
    mkdir fake
    printf '#!/bin/sh\necho "$*" >> "%s/apt.log"\n' "$PWD" > fake/apt-get
    chmod +x fake/apt-get
}

@test "install-deps --reference: nodejs and npm only when npm is missing" {
    run env PATH="$PWD/fake" /bin/sh "$EMO_ROOT/.ci/install-deps" --reference
    assert_success
    grep -q '^install .* nodejs npm' apt.log
    rm apt.log
    # Node.js already installed (with its own npm, which Debian's npm would conflict with)
    printf '#!/bin/sh\n' > fake/npm
    chmod +x fake/npm
    run env PATH="$PWD/fake" /bin/sh "$EMO_ROOT/.ci/install-deps" --reference
    assert_success
    grep -q '^install .*python3-torch' apt.log
    run grep -E '(^| )(nodejs|npm)( |$)' apt.log
    assert_failure
}
