// Package bench measures dispatch as it runs in production: its real binary against goaws (SNS and
// SQS, in the benchmark's process) and the fakes of Slack, GitHub and PagerDuty, each adding a
// latency per call and enforcing the service's real rate limits. A time scale shrinks every limit
// window and the latency alike, so a 1,000-alarm burst that GitHub's 500-an-hour limit stretches over
// an hour runs in about a minute; the table says which scale each row used.
//
// The full run prints one table and writes it, with CPU and heap profiles of the bot, to bench/out/:
//
//	go test -run='^$' -bench=. -benchtime=1x -timeout=10m ./bench/
//
// Settings (flag after the package, or environment variable): -latency / BENCH_LATENCY (added
// latency per call, default 50ms), -scale / BENCH_SCALE (time scale of the bursts, default 60),
// -bursts / BENCH_BURSTS (default "100@1/prompts,100@60,1000@1/prompts,1000@60"), -singles / BENCH_SINGLES
// (default 30, each measured twice), -connect-latency, -seed, -concurrency and -pace-margin (see bench_test.go).
//
// TestSmoke runs the same measurements on a tiny burst in `go test ./...`, so the benchmark can't
// rot; it checks the plumbing, not the timings. docs/PERFORMANCE.md holds a full run's table and
// what it shows.
package bench
