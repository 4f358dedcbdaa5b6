package bot

import (
	"bytes"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"
)

// NewLogger makes the process logger: JSON lines, or human-friendly console output with
// LOG_FORMAT=console. As a last line of defence, every line passes through a filter that blanks any
// of secrets it contains (dispatch never logs a token on purpose; this catches a library that might).
func NewLogger(w io.Writer, level, format string, secrets ...string) zerolog.Logger {
	if w == nil {
		w = os.Stderr
	}
	w = newRedactor(w, secrets)
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}

// redactor replaces secrets in whatever is written through it.
type redactor struct {
	w       io.Writer
	secrets [][]byte
}

func newRedactor(w io.Writer, secrets []string) io.Writer {
	r := &redactor{w: w}
	for _, s := range secrets {
		if len(s) >= 8 { // shorter values would blank innocent text
			r.secrets = append(r.secrets, []byte(s))
		}
	}
	if len(r.secrets) == 0 {
		return w
	}
	return r
}

func (r *redactor) Write(p []byte) (int, error) {
	out := p
	for _, s := range r.secrets {
		if bytes.Contains(out, s) {
			out = bytes.ReplaceAll(out, s, []byte("[redacted]"))
		}
	}
	if _, err := r.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Secrets lists the configuration's secret values, for NewLogger.
func (c Config) Secrets() []string {
	s := []string{c.SlackBotToken, c.SlackAppToken, c.GitHubToken, c.PagerDutyKey, c.GitHubAppKey}
	for _, k := range c.ServiceKeys {
		s = append(s, k)
	}
	return s
}
