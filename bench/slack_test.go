package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/alerts"
	"github.com/dispatch-oss/dispatch/fakes/fakeslack"
	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/pace"
	"github.com/dispatch-oss/dispatch/retry"
	"github.com/dispatch-oss/dispatch/slackapi"
)

// The Slack rows measure the Slack adapter (slackapi, as the bot runs it) against the fake Slack
// with every tier on, both at one time scale: the answer flood's chat.update, App Home opens beside
// DMs, and the user directory of a large workspace. They don't run the binary: what they measure
// is Slack's budget and dispatch's pacing of it, which the rest of the binary doesn't change.

// slackSizes are the Slack rows' sizes: the benchmark's, and the smoke test's.
type slackSizes struct {
	Scale     float64
	Answers   int // the flood's settled DMs
	HomeUsers int // users opening their Home tab
	HomeOpens int // opens each, over the run
	DMs       int // alarms DMed while they do
	Directory int // workspace users
}

var (
	fullSlack  = slackSizes{Scale: 60, Answers: 1000, HomeUsers: 200, HomeOpens: 10, DMs: 200, Directory: 50_000}
	smokeSlack = slackSizes{Scale: 600, Answers: 60, HomeUsers: 20, HomeOpens: 20, DMs: 10, Directory: 2_000}
)

type slackReport struct {
	Sizes slackSizes
	// The flood.
	FloodTook, FloodBound time.Duration // real time (scaled back)
	FloodSettled          int
	// Home opens.
	HomeOffered, HomePublished, HomeShed int
	HomePerMinute                        float64 // opens offered per real minute
	DMp50Alone, DMp99Alone               time.Duration
	DMp50Homes, DMp99Homes               time.Duration
	// The directory.
	DirTook, DirBound time.Duration // real time
	DirHeap           int64         // bytes the directory holds, after GC
	DirRSS            int64         // the test process's RSS (the fake's own 50,000 users included)
	RateLimited       int           // 429s the fake answered over all rows: the goal is 0
}

func slackClient(tb testing.TB, srv *fakeslack.Server, scale float64) *slackapi.Client {
	tb.Helper()
	srv.SetTimeScale(scale)
	c := slackapi.New(slackapi.Options{
		BotToken: srv.Options().BotToken, APIURL: srv.APIURL(),
		Limits:   slackapi.ScaleLimits(slackapi.Limits, scale),
		PostPace: slackapi.ScaleLimits(map[string][]pace.Window{"": slackapi.PostLimits}, scale)[""],
		Retry:    retry.Default, DirectoryWait: time.Hour,
	})
	tb.Cleanup(c.Close)
	return c
}

func newSlackFake(tb testing.TB) *fakeslack.Server {
	tb.Helper()
	srv := fakeslack.New(fakeslack.Options{})
	tb.Cleanup(srv.Close)
	srv.SetUsersPageSize(200)
	return srv
}

// measureFlood settles n DMs at once, as a flood of answers does, and times the drain against the
// bound chat.update's Tier 3 sets: 50 at once, then 50 more each minute.
func measureFlood(tb testing.TB, sz slackSizes, r *slackReport) {
	srv := newSlackFake(tb)
	c := slackClient(tb, srv, sz.Scale)
	ctx := context.Background()
	refs := make([]handlers.MessageRef, sz.Answers)
	for i := range refs {
		u := fmt.Sprintf("UF%05d", i)
		srv.AddUser(fakeslack.User{ID: u, Name: strings.ToLower(u)})
		// Posted to the user ID, which Slack takes as their DM: the flood measures chat.update, not
		// the conversations.open the prompts spent beforehand.
		ref, err := c.Post(ctx, u, handlers.Message{Body: "was this you?", Buttons: []handlers.Button{{ActionID: "yes", Label: "Yes", Value: "t"}}})
		if err != nil {
			tb.Fatalf("post prompt %d: %v", i, err)
		}
		// An answer's interaction payload carries the message's blocks, so settling it needs no
		// conversations.history: only chat.update.
		ms := srv.Messages(ref.Channel)
		ref.Blocks = ms[len(ms)-1].Blocks
		refs[i] = ref
	}
	start := time.Now()
	var wg sync.WaitGroup
	var settled atomic.Int64
	for _, ref := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Settle(ctx, ref, "You answered Yes"); err == nil {
				settled.Add(1)
			}
		}()
	}
	wg.Wait()
	r.FloodTook = realTime(time.Since(start), sz.Scale)
	r.FloodBound = windowsBound(sz.Answers, slackapi.Tier3)
	r.FloodSettled = int(settled.Load())
	r.RateLimited += srv.RateLimited("")
}

// measureHomes DMs sz.DMs users one after another, alone and then while every Home user opens
// their tab sz.HomeOpens times as fast as they can.
func measureHomes(tb testing.TB, sz slackSizes, r *slackReport) {
	srv := newSlackFake(tb)
	var users []fakeslack.User
	for i := range max(sz.HomeUsers, sz.DMs) {
		users = append(users, fakeslack.User{ID: fmt.Sprintf("UH%05d", i), Name: fmt.Sprintf("home%05d", i)})
	}
	srv.AddUsers(users...)
	c := slackClient(tb, srv, sz.Scale)
	ctx := context.Background()
	dms := func(offset int) []time.Duration {
		var out []time.Duration
		for _, u := range users[:sz.DMs/2] {
			start := time.Now()
			if _, err := c.Post(ctx, u.ID, handlers.Message{Body: fmt.Sprint("alarm ", offset)}); err != nil {
				tb.Fatalf("DM: %v", err)
			}
			out = append(out, time.Since(start))
		}
		return out
	}
	alone := sortedCopy(dms(0))
	r.DMp50Alone, r.DMp99Alone = pct(alone, .5), pct(alone, .99)

	start := time.Now()
	var wg sync.WaitGroup
	var shed atomic.Int64
	// Every open is its own event, handled at once, as the bot handles app_home_opened.
	for _, u := range users[:sz.HomeUsers] {
		for j := range sz.HomeOpens {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := c.PublishHome(ctx, handlers.HomeView{UserID: u.ID, Recent: []handlers.HomeEntry{{Title: fmt.Sprint("open ", j)}}})
				if errors.Is(err, slackapi.ErrHomeShed) {
					shed.Add(1)
				} else if err != nil {
					tb.Errorf("publish home: %v", err)
				}
			}()
		}
	}
	busy := sortedCopy(dms(1))
	wg.Wait()
	took := time.Since(start)
	r.DMp50Homes, r.DMp99Homes = pct(busy, .5), pct(busy, .99)
	r.HomeOffered = sz.HomeUsers * sz.HomeOpens
	r.HomePublished = srv.Calls("views.publish")
	r.HomeShed = int(shed.Load())
	r.HomePerMinute = float64(r.HomeOffered) / realTime(took, sz.Scale).Minutes()
	r.RateLimited += srv.RateLimited("")
}

// measureDirectory loads a workspace of sz.Directory users and weighs what the directory keeps.
func measureDirectory(tb testing.TB, sz slackSizes, r *slackReport) {
	srv := newSlackFake(tb)
	users := make([]fakeslack.User, sz.Directory)
	for i := range users {
		users[i] = fakeslack.User{ID: fmt.Sprintf("UD%06d", i), Name: fmt.Sprintf("member%06d", i),
			DisplayName: fmt.Sprintf("Member %d", i), RealName: fmt.Sprintf("Member Number %06d", i), Email: fmt.Sprintf("m%d@example.com", i)}
	}
	srv.AddUsers(users...)
	users = nil
	before := heapAfterGC()
	c := slackClient(tb, srv, sz.Scale)
	start := time.Now()
	id, err := c.Resolve(context.Background(), alerts.User{Slack: fmt.Sprintf("Member %d", sz.Directory-1)})
	if err != nil || id == "" {
		tb.Fatalf("display name in a loaded directory: %q, %v", id, err)
	}
	r.DirTook = realTime(time.Since(start), sz.Scale)
	pages := (sz.Directory + 1 + 199) / 200 // the bot user too
	r.DirBound = windowsBound(pages, slackapi.Tier2)
	r.DirHeap = heapAfterGC() - before
	r.DirRSS = rss()
	runtime.KeepAlive(c)
	r.RateLimited += srv.RateLimited("")
}

// windowsBound is the least time n calls take under a sliding limit of perMinute: the first
// perMinute at once, each next perMinute a minute after the last.
func windowsBound(n, perMinute int) time.Duration {
	return time.Duration(max(0, n-1)/perMinute) * time.Minute
}

func heapAfterGC() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// rss is this process's resident set size from /proc, or 0 where there is none.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func runSlack(tb testing.TB, sz slackSizes) slackReport {
	r := slackReport{Sizes: sz}
	measureFlood(tb, sz, &r)
	measureHomes(tb, sz, &r)
	measureDirectory(tb, sz, &r)
	return r
}

func (r slackReport) table() string {
	var b strings.Builder
	sz := r.Sizes
	fmt.Fprintf(&b, "Slack rows (slackapi against the fake, every tier on, time scale %g; times are real, scaled back)\n", sz.Scale)
	fmt.Fprintf(&b, "answer flood: %d DMs settled of %d in %s; chat.update Tier 3 bound %s (%.2f×)\n",
		r.FloodSettled, sz.Answers, dur(r.FloodTook), dur(r.FloodBound), ratio(r.FloodTook, r.FloodBound))
	fmt.Fprintf(&b, "App Home: %d opens by %d users (%.0f a minute) → %d views.publish (Tier 4: %d a minute), %d shed; DM p50/p99 alone %s/%s, beside the opens %s/%s\n",
		r.HomeOffered, sz.HomeUsers, r.HomePerMinute, r.HomePublished, slackapi.Tier4, r.HomeShed,
		dur(realTime(r.DMp50Alone, sz.Scale)), dur(realTime(r.DMp99Alone, sz.Scale)), dur(realTime(r.DMp50Homes, sz.Scale)), dur(realTime(r.DMp99Homes, sz.Scale)))
	fmt.Fprintf(&b, "directory: %d users loaded in %s; users.list Tier 2 bound %s (%.2f×); held %s (%d bytes a user); process RSS %s\n",
		sz.Directory, dur(r.DirTook), dur(r.DirBound), ratio(r.DirTook, r.DirBound), mb(r.DirHeap), r.DirHeap/int64(max(sz.Directory, 1)), mb(r.DirRSS))
	fmt.Fprintf(&b, "429s from the fake Slack: %d\n", r.RateLimited)
	return b.String()
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// BenchmarkSlack prints the Slack rows for docs/PERFORMANCE.md:
//
//	go test -run='^$' -bench=Slack -benchtime=1x -timeout=10m ./bench/
func BenchmarkSlack(b *testing.B) {
	for range b.N {
		r := runSlack(b, fullSlack)
		b.Log("\n" + r.table())
		b.ReportMetric(ratio(r.FloodTook, r.FloodBound), "flood/bound")
		b.ReportMetric(ratio(r.DirTook, r.DirBound), "directory/bound")
		b.ReportMetric(float64(r.DirHeap)/float64(fullSlack.Directory), "directory-B/user")
		_ = os.MkdirAll("out", 0o755)
		_ = os.WriteFile("out/slack.txt", []byte(r.table()), 0o644)
	}
}

// TestSlackSmoke runs the Slack rows small and fast, so they can't rot; it checks what the rows
// promise that doesn't depend on the machine's speed: every DM settled, no 429, Home publishes
// within Tier 4 and coalesced, the whole directory loaded.
func TestSlackSmoke(t *testing.T) {
	r := runSlack(t, smokeSlack)
	t.Log("\n" + r.table())
	if r.FloodSettled != smokeSlack.Answers {
		t.Errorf("%d of %d DMs settled", r.FloodSettled, smokeSlack.Answers)
	}
	if r.RateLimited != 0 {
		t.Errorf("%d calls answered 429", r.RateLimited)
	}
	if r.HomePublished >= r.HomeOffered {
		t.Errorf("%d publishes for %d opens: not coalesced", r.HomePublished, r.HomeOffered)
	}
	if r.FloodTook < r.FloodBound {
		t.Errorf("the flood drained in %v, faster than Tier 3 allows (%v): the fake is not limiting", r.FloodTook, r.FloodBound)
	}
	if r.DirHeap <= 0 || r.DirTook <= 0 {
		t.Errorf("directory not measured: %+v", r)
	}
}
