package pace

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// finished returns the times the pacer's kept requests finished, by its own clock.
func finished(p *Pacer) []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []time.Time
	for _, r := range p.reqs {
		out = append(out, r.at)
	}
	return out
}

func TestPacerNeverExceedsAnyWindow(t *testing.T) {
	windows := []Window{{Limit: 5, Span: 150 * time.Millisecond}, {Limit: 8, Span: 400 * time.Millisecond}}
	p := New(windows...)
	var mu sync.Mutex
	var times []time.Time
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			done, err := p.Wait(context.Background())
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			times = append(times, time.Now())
			mu.Unlock()
			done()
		})
	}
	wg.Wait()
	if len(times) != 20 {
		t.Fatalf("admitted %d of 20", len(times))
	}
	// Each time was taken before its request was done, so at or before the pacer counted it.
	for _, w := range windows {
		for i := range times {
			n := 0
			for _, u := range times {
				if !u.Before(times[i]) && u.Sub(times[i]) < w.Span {
					n++
				}
			}
			if n > w.Limit {
				t.Errorf("%d admissions within %s (limit %d)", n, w.Span, w.Limit)
			}
		}
	}
	// 20 requests under 8 per 400 ms need at least two full spans.
	first, last := times[0], times[0]
	for _, u := range times {
		if u.Before(first) {
			first = u
		}
		if u.After(last) {
			last = u
		}
	}
	if d := last.Sub(first); d < 800*time.Millisecond {
		t.Errorf("20 admissions in %s: the pacer did not hold them back", d)
	}
}

func TestPacerStopsWaitingWhenTheContextEnds(t *testing.T) {
	p := New(Window{Limit: 1, Span: time.Hour})
	done, err := p.Wait(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	done()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Wait(ctx); err != context.Canceled {
		t.Errorf("Wait = %v, want context.Canceled", err)
	}
}

func TestKeyedPacersAreIndependentAndNilAdmitsAll(t *testing.T) {
	k := NewKeyed(Window{Limit: 1, Span: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, key := range []string{"C1", "C2", "C3"} {
		done, err := k.Wait(ctx, key)
		if err != nil {
			t.Fatalf("first call for %s waited: %v", key, err)
		}
		done()
	}
	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	if _, err := k.Wait(short, "C1"); err == nil {
		t.Error("a second call for C1 within the hour was admitted")
	}
	var nilKeyed *Keyed
	var nilPacer *Pacer
	_, errK := nilKeyed.Wait(ctx, "x")
	_, errP := nilPacer.Wait(ctx)
	if errK != nil || errP != nil {
		t.Error("nil pacers must admit everything")
	}
}

func TestARequestInFlightKeepsItsSlot(t *testing.T) {
	p := New(Window{Limit: 1, Span: 10 * time.Millisecond})
	done, err := p.Wait(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Long past the span, but the first request has not finished: the second must wait for it.
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := p.Wait(short); err == nil {
		t.Fatal("a second request was admitted while the first was still in flight")
	}
	if d := p.Delay(); d != 10*time.Millisecond {
		t.Errorf("with the first in flight, Delay = %s, want the span (as if it finished now)", d)
	}
	done()
	if d := p.Delay(); d <= 0 || d > 10*time.Millisecond {
		t.Errorf("after the first finished, the wait is %s, want up to the span", d)
	}
}

// TestBucketWindowsKeepTheBucket admits requests as fast as Bucket's windows allow and checks each
// admission against a token bucket simulated apart (starting full, burst tokens, one per interval),
// the way the fake Slack and Slack itself count chat.postMessage per channel. It also checks the
// windows are not needlessly strict: within the horizon, every request goes at the bucket's own
// earliest moment.
func TestBucketWindowsKeepTheBucket(t *testing.T) {
	const burst, horizon = 4, 60
	interval := time.Second
	ws := Bucket(burst, interval, horizon)
	// earliest(n, ws, 0) is the first n admissions' times under the windows, requests finishing at once.
	var times []time.Duration
	for n := 0; n < 3*horizon; n++ {
		at := time.Duration(0)
		for _, w := range ws {
			if len(times) >= w.Limit {
				at = max(at, times[len(times)-w.Limit]+w.Span)
			}
		}
		if len(times) > 0 {
			at = max(at, times[len(times)-1])
		}
		times = append(times, at)
	}
	tokens, last := float64(burst), time.Duration(0)
	for i, at := range times {
		tokens = min(float64(burst), tokens+float64(at-last)/float64(interval))
		last = at
		if tokens < 1-1e-9 {
			t.Fatalf("request %d at %v: the bucket is empty (%.3f tokens)", i, at, tokens)
		}
		tokens--
		// The bucket's own earliest time for request i (all sent as soon as allowed): the first
		// burst at once, then one an interval.
		if want := time.Duration(max(0, i+1-burst)) * interval; i < horizon && at != want {
			t.Errorf("request %d admitted at %v, the bucket allows it at %v", i, at, want)
		}
	}
}

// TestWithMaxWaitIsDecidedWithTheAdmission: twenty callers race for a window of five, each allowing
// no more than a second of waiting against an hour's window: exactly five are admitted and fifteen
// told at once that they would wait, none queued behind the window.
func TestWithMaxWaitIsDecidedWithTheAdmission(t *testing.T) {
	p := New(Window{Limit: 5, Span: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	admitted, refused := 0, 0
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			done, err := p.Wait(WithMaxWait(ctx, time.Second))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				admitted++
				done()
			case errors.Is(err, ErrWouldWait):
				refused++
			default:
				t.Errorf("wait: %v", err)
			}
		})
	}
	wg.Wait()
	if admitted != 5 || refused != 15 {
		t.Errorf("admitted %d and refused %d of 20, want 5 and 15", admitted, refused)
	}
	// Without the bound a caller waits (here until its context ends).
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	if _, err := p.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("an unbounded wait ended with %v, want the context's deadline", err)
	}
}

// waiters is how many normal requests are waiting on p.
func waiters(p *Pacer) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waiting
}

// untilWaiting polls until n normal requests wait on p.
func untilWaiting(t *testing.T, p *Pacer, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for waiters(p) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests waiting, want %d", waiters(p), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// fakeClock is a Pacer clock a test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// TestWaitAsideGoesAfterEveryWaitingRequest: a thread reply may not take a place that a waiting
// prompt is about to take, though the window would admit it: the prompt waits (here asleep for
// the hour its wait was when it asked), the window is free by the clock, and the reply stands aside
// until the prompt is gone.
func TestWaitAsideGoesAfterEveryWaitingRequest(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	p := New(Window{Limit: 1, Span: time.Hour})
	p.now = clock.now
	done, err := p.Wait(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	done()
	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan error)
	go func() { _, err := p.Wait(ctx); gone <- err }()
	untilWaiting(t, p, 1)
	clock.add(2 * time.Hour)
	if _, ok := takeAll([]*Pacer{p}); ok {
		t.Fatal("the low-priority request took the place a waiting request is due")
	}
	cancel()
	if err := <-gone; !errors.Is(err, context.Canceled) {
		t.Fatalf("the waiter ended with %v", err)
	}
	if n := waiters(p); n != 0 {
		t.Fatalf("%d counted as waiting after it gave up", n)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if _, err := WaitAside(wctx, p); err != nil {
		t.Errorf("with nobody waiting and the window free, WaitAside: %v", err)
	}
}

// TestWaitAsideTakesEveryPlaceOrNone: a post needs its channel's place and the workspace's. While
// one of them is busy it holds neither (a held channel place would put it before the person's
// next prompt); once both are free it takes both.
func TestWaitAsideTakesEveryPlaceOrNone(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	channel, workspace := New(Window{Limit: 1, Span: time.Second}), New(Window{Limit: 1, Span: time.Minute})
	channel.now, workspace.now = clock.now, clock.now
	done, err := workspace.Wait(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	done()
	if _, ok := takeAll([]*Pacer{workspace, channel}); ok {
		t.Fatal("admitted while the workspace's window is full")
	}
	if n := len(finished(channel)); n != 0 {
		t.Fatalf("the channel holds %d requests after a refusal, want none", n)
	}
	clock.add(time.Minute)
	done, ok := takeAll([]*Pacer{workspace, channel, nil})
	if !ok {
		t.Fatal("refused with both windows free")
	}
	done()
	if len(finished(channel)) != 1 || len(finished(workspace)) != 1 {
		t.Errorf("kept %d and %d requests, want one place taken in each", len(finished(channel)), len(finished(workspace)))
	}
}

// TestShareKeepsReplicasWithinTheLimits: n replicas, each within Share(ws, n), make at most each
// window's limit together.
func TestShareKeepsReplicasWithinTheLimits(t *testing.T) {
	ws := append([]Window{{Limit: 80, Span: time.Minute}, {Limit: 500, Span: time.Hour}}, Bucket(4, time.Second, 60)...)
	for n := 1; n <= 10; n++ {
		shared := Share(ws, n)
		if len(shared) != len(ws) {
			t.Fatalf("n=%d: %d windows, want %d", n, len(shared), len(ws))
		}
		for i, w := range shared {
			if w.Span != ws[i].Span || w.Limit < 1 || (ws[i].Limit >= n && n*w.Limit > ws[i].Limit) {
				t.Errorf("n=%d: %+v shared as %+v: %d replicas could make %d", n, ws[i], w, n, n*w.Limit)
			}
		}
	}
	if got := Share(ws, 2)[0]; got != (Window{Limit: 40, Span: time.Minute}) {
		t.Errorf("GitHub's 80 a minute for 2 replicas: %+v, want 40 a minute each", got)
	}
	if got := Share(ws, 1); &got[0] != &ws[0] {
		t.Error("one replica: the windows should be left as they are")
	}
}

// TestWaitNCountsEachRequestsWeight: in a window of 10 points, a write (5) and five reads (1 each)
// fill it; a read then waits for the oldest read, and once the reads have left a write fits, after
// which a read waits for the write before it to leave: its five places are not freed one by one.
func TestWaitNCountsEachRequestsWeight(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	p := New(Window{Limit: 10, Span: time.Hour})
	p.now = clock.now
	take := func(n int) {
		t.Helper()
		if d := p.DelayN(n); d != 0 {
			t.Fatalf("weight %d: delay %s, want none", n, d)
		}
		done, err := p.WaitN(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		done()
	}
	for range 5 {
		take(1)
	}
	clock.add(10 * time.Minute)
	take(5)
	if d := p.DelayN(1); d != 50*time.Minute {
		t.Errorf("a read with 10 of 10 points taken waits %s, want 50m (until the first read leaves)", d)
	}
	clock.add(50 * time.Minute) // the reads have left; the write holds 5 points
	if d := p.DelayN(6); d != 10*time.Minute {
		t.Errorf("weight 6 beside a write of 5 waits %s, want 10m (until the write leaves)", d)
	}
	take(5)
	clock.add(5 * time.Minute)
	if d := p.Delay(); d != 5*time.Minute {
		t.Errorf("a read behind two writes waits %s, want 5m (until the first write leaves)", d)
	}
}

// TestWaitNNeverExceedsTheWeightOfAWindow: reads and writes admitted concurrently as fast as the
// window allows never hold more than its limit in points within any span.
func TestWaitNNeverExceedsTheWeightOfAWindow(t *testing.T) {
	w := Window{Limit: 10, Span: 100 * time.Millisecond}
	p := New(w)
	type adm struct {
		at     time.Time
		weight int
	}
	var mu sync.Mutex
	var got []adm
	var wg sync.WaitGroup
	for i := range 14 {
		weight := 1
		if i%3 == 0 {
			weight = 5
		}
		wg.Go(func() {
			done, err := p.WaitN(context.Background(), weight)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			got = append(got, adm{time.Now(), weight}) // before done: at or before the pacer's count
			mu.Unlock()
			done()
		})
	}
	wg.Wait()
	total := 0
	for _, a := range got {
		total += a.weight
		sum := 0
		for _, b := range got {
			if !b.at.Before(a.at) && b.at.Sub(a.at) < w.Span {
				sum += b.weight
			}
		}
		if sum > w.Limit {
			t.Errorf("%d points within %s of %s (limit %d)", sum, w.Span, a.at.Format(time.StampMicro), w.Limit)
		}
	}
	if total != 5*5+9 {
		t.Fatalf("admitted %d points, want 34", total)
	}
}

// TestAnEarlierRequestStillInFlightCounts: requests finish in no particular order. A read still
// in flight, made before a read that has left the window, still counts: a write then waits for
// what is really in the window, not for the places counted back from the newest request.
func TestAnEarlierRequestStillInFlightCounts(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	p := New(Window{Limit: 3, Span: time.Hour})
	p.now = clock.now
	if _, err := p.WaitN(context.Background(), 1); err != nil { // slow: never finishes here
		t.Fatal(err)
	}
	done, err := p.WaitN(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	done()
	clock.add(61 * time.Minute) // the second read has left; the first is still in flight
	done, err = p.WaitN(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	done()
	// In the window: the slow read and the last one (2 of 3); a write of 2 must wait for the last.
	if d := p.DelayN(2); d != time.Hour {
		t.Errorf("a write of 2 beside two reads in a window of 3 waits %s, want 1h (until the last read leaves)", d)
	}
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := p.WaitN(short, 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the write was not held back: %v", err)
	}
}
