package stack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// assertNoDuplicateLogKeys fails the test if a JSON line of the log has the same key twice in an
// object (say the socket loop's "user" and the answer's): such a line is ambiguous, and most JSON
// tools keep only one of the two. Every test of the stack checks its own log so.
func (e *Env) assertNoDuplicateLogKeys() {
	e.T.Helper()
	for _, line := range strings.Split(e.Logs.String(), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue // a process's plain-text output, or the end
		}
		if dup, err := DuplicateKey(line); err == nil && dup != "" {
			e.T.Errorf("log key %q twice in one line: %s", dup, line)
		}
	}
}

// DuplicateKey returns a key that occurs twice in one object of the JSON text line, or "".
func DuplicateKey(line string) (string, error) {
	dec := json.NewDecoder(strings.NewReader(line))
	dup, err := scanValue(dec)
	if err == nil {
		if _, extra := dec.Token(); !errors.Is(extra, io.EOF) {
			err = fmt.Errorf("more after the object")
		}
	}
	return dup, err
}

// scanValue reads one JSON value from dec, returning the first key repeated within an object.
func scanValue(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	delim, ok := tok.(json.Delim)
	if !ok || delim == '}' || delim == ']' {
		return "", nil
	}
	seen := map[string]bool{}
	dup := ""
	for dec.More() {
		if delim == '{' {
			keyTok, err := dec.Token()
			if err != nil {
				return "", err
			}
			key := keyTok.(string)
			if seen[key] && dup == "" {
				dup = key
			}
			seen[key] = true
		}
		inner, err := scanValue(dec)
		if err != nil {
			return "", err
		}
		if dup == "" {
			dup = inner
		}
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return "", err
	}
	return dup, nil
}
