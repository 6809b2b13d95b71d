#!/bin/sh
# The `allot` command line as users and scripts meet it: exit codes, errors that name the
# file, line and field, and the demo's readable output. Usage: cli_test.sh ALLOT SRCDIR
set -u
ALLOT=$1
SRC=$2
TMP=$(mktemp -d /tmp/allot-cli-XXXXXX)
trap 'rm -rf "$TMP"' EXIT INT TERM
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# expect_exit CODE PATTERN -- ARGS: run allot, check its exit code and that stdout+stderr
# contains PATTERN (grep -E).
expect_exit() {
    code=$1 pattern=$2
    shift 3
    "$ALLOT" "$@" >"$TMP/out" 2>&1
    rc=$?
    if [ "$rc" != "$code" ]; then
        bad "allot $*: exit $rc, wanted $code"; sed 's/^/    /' "$TMP/out" | head -5
    elif ! grep -Eq -- "$pattern" "$TMP/out"; then
        bad "allot $*: output lacks /$pattern/"; sed 's/^/    /' "$TMP/out" | head -5
    else
        ok
    fi
}

platform='tenants: [{name: a, workspaces: [{name: w, reserved: {gpu: 1}}]}]
clusters: [{name: c}]
nodes: [{name: n, cluster: c, tenant: a, cpu: 8, memory: 8Gi, gpus: [{model: H100-80GB, count: 2}]}]'

# usage errors: exit 2 with a sentence
expect_exit 2 'usage: allot' -- 
expect_exit 2 "unknown command 'frobnicate'" -- frobnicate
expect_exit 0 'usage: allot sim' -- sim --help
# sim's help lists the trace replay's and the comparison's options too
expect_exit 0 '--trace FILE +the job trace' -- sim --help
expect_exit 0 '--compare A B +replay two' -- sim --help
expect_exit 0 '--starvation-age D' -- sim --help
# `allot help COMMAND` is `allot COMMAND --help`; `allot help` the overview
for words in "sim" "submit" "ls" "admin" "admin user create" "admin token revoke"; do
    # shellcheck disable=SC2086 # the words are meant to split
    "$ALLOT" help $words >"$TMP/help" 2>&1
    rc=$?
    "$ALLOT" $words --help >"$TMP/dashdash" 2>&1
    if [ "$rc" != 0 ] || ! cmp -s "$TMP/help" "$TMP/dashdash" || ! [ -s "$TMP/help" ]; then
        bad "allot help $words: exit $rc, or not what 'allot $words --help' prints"
    else
        ok
    fi
done
expect_exit 0 'commands:' -- help
expect_exit 0 '  help  +show this help' -- help help
expect_exit 2 "allot help: unknown command 'frobnicate'" -- help frobnicate
expect_exit 2 "unknown option '--bogus'" -- sim --bogus x.yaml
expect_exit 2 '--until: expected a duration' -- sim --until soon x.yaml
expect_exit 2 'usage: allot sim' -- sim
expect_exit 2 'no-such-file.yaml' -- sim "$TMP/no-such-file.yaml"

# bad YAML and bad values: exit 2, message names file:line: field
printf '%s\ntimeline:\n  - {at: 1s, submit: {name: j, workspace: a/w, gpus: 1, memory: 12Gx}}\n' \
    "$platform" >"$TMP/badmem.yaml"
expect_exit 2 'badmem.yaml:5: .*memory' -- sim "$TMP/badmem.yaml"
printf '%s\ntimeline:\n  - {at: 1s, submit: {name: j, workspace: a/w, gpus: -2}}\n' \
    "$platform" >"$TMP/neg.yaml"
expect_exit 2 'neg.yaml:5: .*gpus' -- sim "$TMP/neg.yaml"
printf 'tenants: [{name: a, workspaces: [{name: w, reserved: {gpu: 3}}]}]\nclusters: [{name: c}]\nnodes: [{name: n, cluster: c, tenant: a, cpu: 8, memory: 8Gi, gpus: [{model: H100-80GB, count: 2}]}]\n' >"$TMP/overres.yaml"
expect_exit 2 'overres.yaml:1: .*reserve 3 GPUs but owns only 2' -- sim "$TMP/overres.yaml"
printf 'tenants: [{name: a\n' >"$TMP/syntax.yaml"
expect_exit 2 'syntax.yaml:[0-9]+' -- sim "$TMP/syntax.yaml"
printf '%s\nsurprise: 1\n' "$platform" >"$TMP/unknown.yaml"
expect_exit 2 "unknown.yaml:4: .*surprise" -- sim "$TMP/unknown.yaml"
head -c 100000 /dev/urandom >"$TMP/binary.yaml"
expect_exit 2 'binary.yaml' -- sim "$TMP/binary.yaml"

# a rejection is an outcome, not an error: exit 0 and the reason is shown
printf '%s\ntimeline:\n  - {at: 1s, submit: {name: big, workspace: a/w, gpus: 9}}\n' \
    "$platform" >"$TMP/reject.yaml"
expect_exit 0 'rejected +big +never_fits' -- sim --check "$TMP/reject.yaml"

# failed expectation: exit 1 naming the line
printf '%s\ntimeline:\n  - {at: 1s, submit: {name: j, workspace: a/w, gpus: 1, duration: 1m}}\nexpect:\n  - {event: rejected, workload: j}\n' \
    "$platform" >"$TMP/expect.yaml"
expect_exit 1 'expect.yaml:7: expectation failed' -- sim --expect --quiet "$TMP/expect.yaml"

# the demo scenario: readable timeline and the reclaim story
expect_exit 0 'preempting +r-exp-[0-9]+ +reclaim for p-serve' -- sim --check "$SRC/examples/seed.yaml"
expect_exit 0 'GPU-h borrowed' -- sim "$SRC/examples/seed.yaml"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
