package bot

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"sync"
)

// minSecretLen: shorter values would blank innocent text.
const minSecretLen = 8

// maxMinted bounds the secrets added at run time (installation tokens, app JWTs, AWS session
// credentials, each replaced within hours): the oldest are forgotten, long expired by then.
const maxMinted = 64

// Secrets is what the log filter blanks: the configuration's secrets, given at start, and the
// credentials minted while running (Add). It is safe for concurrent use.
type Secrets struct {
	mu      sync.RWMutex
	static  [][]byte   // the patterns of the secrets given to NewSecrets
	minted  [][][]byte // the patterns of each secret added since, oldest first
	known   map[string]bool
	ordered [][]byte // static and minted patterns, longest first (rebuilt on Add)
}

// NewSecrets makes a filter list of values (those shorter than 8 bytes are ignored).
func NewSecrets(values ...string) *Secrets {
	s := &Secrets{known: map[string]bool{}}
	for _, v := range values {
		if len(v) >= minSecretLen && !s.known[v] {
			s.known[v] = true
			s.static = append(s.static, patterns(v)...)
		}
	}
	s.rebuildLocked()
	return s
}

// Add puts values minted at run time on the list; one already on it costs a map lookup.
func (s *Secrets) Add(values ...string) {
	for _, v := range values {
		if len(v) < minSecretLen {
			continue
		}
		s.mu.RLock()
		seen := s.known[v]
		s.mu.RUnlock()
		if seen {
			continue
		}
		s.mu.Lock()
		if !s.known[v] {
			s.known[v] = true
			s.minted = append(s.minted, patterns(v))
			if len(s.minted) > maxMinted {
				s.minted = s.minted[1:]
			}
			s.rebuildLocked()
		}
		s.mu.Unlock()
	}
}

func (s *Secrets) rebuildLocked() {
	all := slices.Clone(s.static)
	for _, p := range s.minted {
		all = append(all, p...)
	}
	// Longest first: a whole PEM key goes before its lines, an escaped form before the plain one.
	slices.SortFunc(all, func(a, b []byte) int { return len(b) - len(a) })
	s.ordered = slices.CompactFunc(all, bytes.Equal)
}

// Filter returns w with every secret blanked from what is written through it.
func (s *Secrets) Filter(w io.Writer) io.Writer { return &redactor{w: w, s: s} }

// patterns are the forms a secret can take in a log line: as is; JSON-escaped (a multi-line PEM
// key becomes "\n" escapes) the way encoding/json writes it, with and without HTML escapes, and as
// zerolog writes it; with "/" escaped as "\/"; escaped twice (a JSON body quoted in an error
// string). A PEM key adds each of its lines, so a part of it is caught too.
func patterns(v string) [][]byte {
	forms := []string{v, jsonEscape(v, true), jsonEscape(v, false), zerologEscape(v)}
	forms = append(forms, jsonEscape(forms[1], true), jsonEscape(forms[2], false))
	if strings.Contains(v, "-----BEGIN") {
		for _, line := range strings.Split(v, "\n") {
			line = strings.TrimSpace(line)
			if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
				forms = append(forms, line)
			}
		}
	}
	var out [][]byte
	for _, f := range forms {
		out = append(out, []byte(f), []byte(strings.ReplaceAll(f, "/", `\/`)))
	}
	return out
}

// jsonEscape is v inside a JSON string, as encoding/json writes it.
func jsonEscape(v string, html bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(html)
	_ = enc.Encode(v)
	out := strings.TrimSuffix(b.String(), "\n")
	return strings.TrimSuffix(strings.TrimPrefix(out, `"`), `"`)
}

// zerologEscape is v inside a JSON string as zerolog writes it: ", \ and control characters
// escaped, \u00XX for those without a short form, nothing else.
func zerologEscape(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\b':
			b.WriteString(`\b`)
		case c == '\f':
			b.WriteString(`\f`)
		case c < 0x20:
			const hex = "0123456789abcdef"
			b.WriteString(`\u00`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// redactor replaces secrets in whatever is written through it.
type redactor struct {
	w io.Writer
	s *Secrets
}

func newRedactor(w io.Writer, secrets []string) io.Writer {
	s := NewSecrets(secrets...)
	if len(s.ordered) == 0 {
		return w
	}
	return s.Filter(w)
}

func (r *redactor) Write(p []byte) (int, error) {
	out := p
	r.s.mu.RLock()
	for _, s := range r.s.ordered {
		if bytes.Contains(out, s) {
			out = bytes.ReplaceAll(out, s, []byte("[redacted]"))
		}
	}
	r.s.mu.RUnlock()
	if _, err := r.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
