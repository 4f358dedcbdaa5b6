package handlers

import (
	"context"
	"testing"
	"time"
)

func TestLateNote(t *testing.T) {
	now := time.Date(2026, 12, 3, 9, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		ago  time.Duration
		want string
	}{
		{0, ""},
		{59 * time.Second, ""},
		{time.Minute, ""},
		{61 * time.Second, " · published 1 min ago"},
		{14*time.Minute + 30*time.Second, " · published 14 min ago"},
		{2*time.Hour + 5*time.Minute + 10*time.Second, " · published 2 h 5 min ago (Dec 3 07:24 UTC)"},
		{72 * time.Hour, " · published 3 days ago (Nov 30 09:30 UTC)"},
	} {
		ctx := withPublished(context.Background(), now.Add(-tc.ago))
		if got := lateNote(ctx, now); got != tc.want {
			t.Errorf("%s late: %q, want %q", tc.ago, got, tc.want)
		}
	}
	if got := lateNote(context.Background(), now); got != "" {
		t.Errorf("unknown publication time: %q, want nothing", got)
	}
	if got := lateNote(withPublished(context.Background(), time.Time{}), now); got != "" {
		t.Errorf("zero publication time: %q, want nothing", got)
	}
}
