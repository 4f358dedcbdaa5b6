package handlers

import (
	"context"
	"fmt"
	"time"
)

// LateAfter is how late an alarm must be before its DM says so: within a minute is on time.
const LateAfter = time.Minute

type publishedKey struct{}

// withPublished remembers, for the DMs of the alarm being handled, when it was published.
func withPublished(ctx context.Context, at time.Time) context.Context {
	if at.IsZero() {
		return ctx
	}
	return context.WithValue(ctx, publishedKey{}, at)
}

// lateNote is the DM note's suffix for an alarm handled more than LateAfter after it was published
// (after an outage, say): " · published 14 min ago". It is "" for an alarm on time, or of unknown age.
func lateNote(ctx context.Context, now time.Time) string {
	at, ok := ctx.Value(publishedKey{}).(time.Time)
	if !ok {
		return ""
	}
	late := now.Sub(at)
	switch {
	case late <= LateAfter:
		return ""
	case late < time.Hour:
		return fmt.Sprintf(" · published %d min ago", int(late/time.Minute))
	case late < 48*time.Hour:
		return fmt.Sprintf(" · published %d h %d min ago (%s UTC)", int(late/time.Hour), int(late%time.Hour/time.Minute), at.UTC().Format("Jan 2 15:04"))
	default:
		return fmt.Sprintf(" · published %d days ago (%s UTC)", int(late/(24*time.Hour)), at.UTC().Format("Jan 2 15:04"))
	}
}
