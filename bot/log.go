package bot

import (
	"io"
	"os"
	"time"

	"github.com/aws/smithy-go/logging"
	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// NewLogger makes the process logger: JSON lines, or human-friendly console output with
// LOG_FORMAT=console, coloured only when w is a terminal and NO_COLOR is not set
// (https://no-color.org). Every line carries a "time" in RFC 3339 with milliseconds, in UTC. As a
// last line of defence, every line passes through a filter that blanks any of secrets it contains
// (dispatch never logs a token on purpose; this catches a library that might).
func NewLogger(w io.Writer, level, format string, secrets ...string) zerolog.Logger {
	if w == nil {
		w = os.Stderr
	}
	colour := IsTerminal(w) && os.Getenv("NO_COLOR") == ""
	w = newRedactor(w, secrets)
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, NoColor: !colour, TimeFormat: TimeFormat}
	}
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(lvl).Hook(timestamp{})
}

// TimeFormat is the log's timestamp format: RFC 3339 with milliseconds, always three digits, so
// that lines sort and line up (time.RFC3339Nano drops trailing zeros).
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// timestamp stamps each line with the time it is written, in TimeFormat. It is a hook rather than
// zerolog's Timestamp() because that one formats with the package-wide zerolog.TimeFieldFormat,
// which a library must not change under everybody else.
type timestamp struct{}

func (timestamp) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str(zerolog.TimestampFieldName, time.Now().UTC().Format(TimeFormat))
}

// IsTerminal reports whether w is a terminal, where colours can be seen and a person reads.
func IsTerminal(w io.Writer) bool {
	if r, ok := w.(*redactor); ok { // a Secrets.Filter: look at what it writes to
		w = r.w
	}
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// SDKLogger sends the AWS SDK's own log lines (its warnings, such as an instance-metadata
// fallback) to log, so that they are JSON lines like the rest instead of plain text on stderr.
func SDKLogger(log zerolog.Logger) logging.Logger {
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		lvl := zerolog.WarnLevel
		if c == logging.Debug {
			lvl = zerolog.DebugLevel
		}
		log.WithLevel(lvl).Str("source", "aws-sdk").Msgf(format, v...)
	})
}

// Secrets lists the configuration's secret values, for NewLogger.
func (c Config) Secrets() []string {
	s := []string{c.SlackBotToken, c.SlackAppToken, c.GitHubToken, c.PagerDutyKey, c.GitHubAppKey, c.PagerDutyAPIToken}
	for _, k := range c.ServiceKeys {
		s = append(s, k)
	}
	s = append(s, c.TaskKeys...)
	s = append(s, c.Duo.SKey)
	return s
}
