package bot

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// gauges gathers m's registry and returns the value of every unlabelled gauge by name.
func gauges(t *testing.T, m *Metrics) map[string]float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			if g := mt.GetGauge(); g != nil && len(mt.GetLabel()) == 0 {
				out[mf.GetName()] = g.GetValue()
			}
		}
	}
	return out
}

func TestStateMetrics(t *testing.T) {
	type reading struct {
		queued, inFlight, dead int
		err                    error
	}
	cases := []struct {
		name  string
		read  reading
		ready bool
		want  map[string]float64 // absent names must be absent
	}{
		{"ready, with a dead-letter queue", reading{3, 1, 2, nil}, true,
			map[string]float64{"dispatch_ready": 1, "dispatch_queue_messages": 3, "dispatch_queue_messages_in_flight": 1, "dispatch_dead_letter_messages": 2}},
		{"no dead-letter queue", reading{0, 0, -1, nil}, true,
			map[string]float64{"dispatch_ready": 1, "dispatch_queue_messages": 0, "dispatch_queue_messages_in_flight": 0}},
		{"SQS unreadable: no numbers rather than stale or zero ones", reading{err: errors.New("sqs queue attributes: timeout")}, false,
			map[string]float64{"dispatch_ready": 0}},
	}
	names := []string{"dispatch_ready", "dispatch_queue_messages", "dispatch_queue_messages_in_flight", "dispatch_dead_letter_messages"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMetrics()
			for _, n := range names {
				if _, ok := gauges(t, m)[n]; ok {
					t.Errorf("%s exported before the bot watches anything", n)
				}
			}
			now := time.Unix(1_000_000, 0)
			m.state.now = func() time.Time { return now }
			calls := 0
			m.watch(func(ctx context.Context) (int, int, int, error) {
				calls++
				if _, ok := ctx.Deadline(); !ok {
					t.Error("the SQS call of a scrape must have a deadline")
				}
				return tc.read.queued, tc.read.inFlight, tc.read.dead, tc.read.err
			}, func() bool { return tc.ready })
			got := gauges(t, m)
			for _, n := range names {
				w, want := tc.want[n]
				g, has := got[n]
				if has != want || g != w {
					t.Errorf("%s = %v (present %v), want %v (present %v)", n, g, has, w, want)
				}
			}
			gauges(t, m)
			if calls != 1 {
				t.Errorf("two scrapes within %v asked SQS %d times, want once", depthCacheFor, calls)
			}
			now = now.Add(depthCacheFor)
			gauges(t, m)
			if calls != 2 {
				t.Errorf("a scrape after %v must read SQS again (calls %d)", depthCacheFor, calls)
			}
		})
	}
}

func TestMetricsDescribeListsMetricsWithoutSamples(t *testing.T) {
	m := NewMetrics()
	ch := make(chan *prometheus.Desc)
	go func() { m.Describe(ch); close(ch) }()
	var all strings.Builder
	for d := range ch {
		all.WriteString(d.String())
	}
	for _, want := range []string{"dispatch_alarms_rejected_total", "dispatch_answers_total", "dispatch_dead_letter_messages", "go_goroutines", "process_start_time_seconds"} {
		if !strings.Contains(all.String(), `"`+want+`"`) {
			t.Errorf("Describe lacks %s", want)
		}
	}
}
