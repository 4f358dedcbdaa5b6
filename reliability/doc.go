// Package reliability is dispatch's fault-injection suite: each test breaks something on purpose
// (SIGKILL in a burst, GitHub down, Slack's socket closed, 429s, two replicas, SIGTERM, hostile
// input, failing requests) and counts, for every alarm published, whether it was handled exactly
// once. See docs/RELIABILITY.md. With DISPATCH_RELIABILITY_REPORT set to a file, each test appends
// its numbers to it (.ci/run prints them).
package reliability
