package bot

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go/logging"
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

// TestSDKLoggerWritesJSONLines: the AWS SDK's warnings become log lines like the others.
func TestSDKLoggerWritesJSONLines(t *testing.T) {
	var buf bytes.Buffer
	SDKLogger(NewLogger(&buf, "info", "json")).Logf(logging.Warn, "falling back to %s", "IMDSv1")
	SDKLogger(NewLogger(&buf, "info", "json")).Logf(logging.Debug, "not shown at info")
	var line struct{ Level, Source, Message string }
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %q", err, buf.String())
	}
	if line.Level != "warn" || line.Source != "aws-sdk" || line.Message != "falling back to IMDSv1" {
		t.Errorf("line = %+v", line)
	}
}
