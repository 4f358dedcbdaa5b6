package retry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/alerts"
)

var fast = Policy{Attempts: 4, Initial: time.Millisecond, Max: 4 * time.Millisecond, MaxWait: time.Second}

func TestDoRetriesTransientFailuresUntilSuccess(t *testing.T) {
	var log bytes.Buffer
	calls := 0
	err := fast.Do(context.Background(), zerolog.New(&log), "op", func(context.Context) error {
		calls++
		if calls < 3 {
			return errors.New("503 from upstream")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("err %v after %d calls, want success on the third", err, calls)
	}
	// One line for the failure (the same error twice is logged once), one for the recovery.
	if n := strings.Count(log.String(), "call failed, retrying"); n != 1 {
		t.Errorf("logged the same failure %d times, want once:\n%s", n, log.String())
	}
	if !strings.Contains(log.String(), "call recovered") {
		t.Error("no recovery logged")
	}
}

func TestDoStopsAtPermanentErrorsAndAfterTheAttempts(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		wantCalls int
	}{
		{"permanent", Permanent(errors.New("404 repository not found")), 1},
		{"invalid alarm", &alerts.InvalidError{Problems: []alerts.Problem{{Message: "bad"}}}, 1},
		{"wrapped permanent", fmt.Errorf("create issue: %w", Permanent(errors.New("422"))), 1},
		{"transient", errors.New("connection reset"), 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := fast.Do(context.Background(), zerolog.Nop(), "op", func(context.Context) error { calls++; return tc.err })
			if calls != tc.wantCalls || err == nil || err.Error() != tc.err.Error() {
				t.Errorf("%d calls, err %v; want %d calls and the last error", calls, err, tc.wantCalls)
			}
		})
	}
}

func TestDoHonoursRetryAfterAndGivesUpOnTooLongAWait(t *testing.T) {
	start := time.Now()
	calls := 0
	err := fast.Do(context.Background(), zerolog.Nop(), "op", func(context.Context) error {
		calls++
		if calls == 1 {
			return After(errors.New("429"), 150*time.Millisecond)
		}
		return nil
	})
	if err != nil || time.Since(start) < 150*time.Millisecond {
		t.Errorf("err %v after %s: Retry-After of 150ms not honoured", err, time.Since(start))
	}
	calls = 0
	err = fast.Do(context.Background(), zerolog.Nop(), "op", func(context.Context) error {
		calls++
		return After(errors.New("429"), time.Hour)
	})
	if calls != 1 || err == nil {
		t.Errorf("a wait beyond MaxWait should hand the work back at once: %d calls, %v", calls, err)
	}
	if d, ok := RetryAfter(err); !ok || d != time.Hour {
		t.Errorf("RetryAfter = %v %v", d, ok)
	}
}

func TestDoStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	slow := Policy{Attempts: 10, Initial: time.Hour, Max: time.Hour}
	calls := 0
	err := slow.Do(ctx, zerolog.Nop(), "op", func(context.Context) error {
		calls++
		cancel()
		return errors.New("down")
	})
	if calls != 1 || !errors.Is(err, context.Canceled) {
		t.Errorf("%d calls, err %v; want 1 call and context.Canceled", calls, err)
	}
}

func TestBackoffIsCappedAndJittered(t *testing.T) {
	p := Policy{Initial: 100 * time.Millisecond, Max: time.Second}
	for try := 1; try <= 30; try++ {
		d := p.backoff(try)
		step := min(100*time.Millisecond<<min(try-1, 20), time.Second)
		if d < step/10 || d > step {
			t.Errorf("try %d: backoff %s outside [%s, %s]", try, d, step/10, step)
		}
	}
}
