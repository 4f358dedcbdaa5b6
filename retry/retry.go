// Package retry is the one place dispatch retries calls to outside services. Adapters classify each
// failure (Permanent, or transient with an optional Retry-After); Do retries the transient ones with
// capped exponential backoff and full jitter, honours Retry-After, stops when the context ends, and
// logs once per change of error rather than once per try.
package retry

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/alerts"
)

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: bad input, a missing repository, a Slack user that
// doesn't exist. nil stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked Permanent or is an
// *alerts.InvalidError.
func IsPermanent(err error) bool {
	var p *permanentError
	var inv *alerts.InvalidError
	return errors.As(err, &p) || errors.As(err, &inv)
}

type afterError struct {
	err   error
	after time.Duration
}

func (e *afterError) Error() string { return e.err.Error() }
func (e *afterError) Unwrap() error { return e.err }

// After marks err as transient with a server-given wait (Retry-After, a rate-limit reset).
func After(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &afterError{err: err, after: d}
}

// RetryAfter returns the wait attached by After, if any.
func RetryAfter(err error) (time.Duration, bool) {
	var a *afterError
	if errors.As(err, &a) {
		return a.after, true
	}
	return 0, false
}

// Policy bounds the retries of one call.
type Policy struct {
	Attempts int           // tries in all, at least 1
	Initial  time.Duration // first backoff
	Max      time.Duration // cap of one backoff
	// MaxWait caps a server-requested wait; a longer Retry-After ends the retries so the caller can
	// hand the work back to the queue instead of holding it.
	MaxWait time.Duration
}

// Default suits a call made while an alarm is in hand: about half a minute of retries in all.
var Default = Policy{Attempts: 6, Initial: 250 * time.Millisecond, Max: 8 * time.Second, MaxWait: 60 * time.Second}

// Do calls fn until it succeeds, fails permanently, the attempts run out or ctx ends. It returns
// fn's last error (or ctx's error wrapped around it).
func (p Policy) Do(ctx context.Context, log zerolog.Logger, what string, fn func(context.Context) error) error {
	attempts := max(p.Attempts, 1)
	var last string
	for try := 1; ; try++ {
		err := fn(ctx)
		if err == nil {
			if last != "" {
				log.Info().Str("call", what).Int("attempt", try).Msg("call recovered")
			}
			return nil
		}
		if ctx.Err() != nil {
			return errors.Join(err, ctx.Err())
		}
		if IsPermanent(err) || try >= attempts {
			return err
		}
		wait := p.backoff(try)
		if after, ok := RetryAfter(err); ok {
			if p.MaxWait > 0 && after > p.MaxWait {
				return err
			}
			wait = max(wait, after)
		}
		if msg := err.Error(); msg != last {
			log.Warn().Err(err).Str("call", what).Int("attempt", try).Dur("retry_in", wait).Msg("call failed, retrying")
			last = msg
		}
		if Sleep(ctx, wait) != nil {
			return errors.Join(err, ctx.Err())
		}
	}
}

// backoff is capped exponential backoff with full jitter, never below a tenth of the step.
func (p Policy) backoff(try int) time.Duration {
	step := p.Initial << min(try-1, 20)
	if p.Max > 0 && (step > p.Max || step <= 0) {
		step = p.Max
	}
	if step <= 0 {
		return 0
	}
	return step/10 + rand.N(step-step/10+1)
}
