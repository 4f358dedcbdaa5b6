package bot

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestLogTimestampsHaveMilliseconds: every line's time is RFC 3339 with exactly three decimals,
// in UTC, in JSON and console output alike.
func TestLogTimestampsHaveMilliseconds(t *testing.T) {
	var buf bytes.Buffer
	before := time.Now().Truncate(time.Millisecond)
	log := NewLogger(&buf, "info", "json")
	log.Info().Msg("one")
	var line struct{ Time string }
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	ts, err := time.Parse(TimeFormat, line.Time)
	if err != nil || len(line.Time) != len("2006-01-02T15:04:05.000Z") || !strings.HasSuffix(line.Time, "Z") {
		t.Fatalf("time %q is not RFC 3339 with milliseconds in UTC (%v)", line.Time, err)
	}
	if ts.Before(before) || ts.After(time.Now()) {
		t.Errorf("time %v is not now", ts)
	}

	buf.Reset()
	log = NewLogger(&buf, "info", "console")
	log.Info().Msg("two")
	if first := strings.Fields(buf.String())[0]; len(first) != len("2006-01-02T15:04:05.000Z") {
		t.Errorf("console line %q does not start with a millisecond timestamp", buf.String())
	}
}
