// Package bench measures dispatch as it runs in production: its real binary against goaws (SNS and
// SQS, in the benchmark's process) and the fakes of Slack, GitHub and PagerDuty, which add a latency
// per call (and more per new connection) and enforce the services' real rate limits. A burst may run
// at a time scale that divides every limit window and latency alike, so a 1,000-alarm burst that
// GitHub's 500-an-hour limit stretches over an hour runs in about a minute; the table says which scale
// each row used, and what does not scale.
//
// The full run prints one table and writes it, with the bot's log, CPU and heap profiles, to
// bench/out/:
//
//	go test -run='^$' -bench=. -benchtime=1x -timeout=10m ./bench/
//
// Settings, as flags after the package or environment variables:
//
//	-latency          BENCH_LATENCY          added per call (50ms)
//	-connect-latency  BENCH_CONNECT_LATENCY  added to the first call on a new connection (100ms)
//	-bursts           BENCH_BURSTS           SIZE[@SCALE][/prompts],… (100@1/prompts,100@60,1000@1/prompts,1000@60);
//	                                         /prompts ends a burst with its last prompt
//	-scale            BENCH_SCALE            the scale of a burst given without one (60)
//	-singles          BENCH_SINGLES          single alarms, sent twice: with and without the latency (30)
//	-seed             BENCH_SEED             dispatch issues already in the repository (1000)
//	-concurrency      BENCH_CONCURRENCY      DISPATCH_CONCURRENCY (0: dispatch's default)
//	-pace-margin      BENCH_PACE_MARGIN      real time added to dispatch's GitHub pacing windows (0)
//
// TestSmoke runs the same measurements on a burst of 10 in `go test ./...`, so the benchmark can't
// rot; it checks that every number is measured, not the timings. docs/PERFORMANCE.md holds a full
// run's table and what it shows.
package bench
