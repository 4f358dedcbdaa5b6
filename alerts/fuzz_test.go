package alerts_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/dispatch-oss/dispatch/alerts"
)

// FuzzDecode checks what Decode promises for any input: it never panics; it returns either an alarm
// that satisfies its type's requirements, with defaults applied, or an *InvalidError naming at least
// one problem; and it gives the same answer every time.
func FuzzDecode(f *testing.F) {
	files := exampleFiles(f)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		f.Add(files[name])
	}
	for _, s := range []string{
		"",
		"{",
		"}",
		"null",
		"[]",
		`"type"`,
		"1e999",
		"\xef\xbb\xbf{}", // a byte order mark
		"\xff\xfe",
		`{"type":"high\u0000","body":{"pagerduty":{"title":"\ud800"}}}`,
		`{"type":"self-service","users":[{"slack":"@"},{"slackId":"U1","github":"@@x"}],"body":{"github":{"title":" "},"slack":{"message":"m"}}}`,
		`{"type":"high","type":"low","body":{"github":{"title":"t","labels":["a","a",","]}}}}}}`,
		`{"type":"nag","remindAfter":"9223372036854775807ns","escalateAfter":"-0","users":[{"email":"e"}],"body":{"github":{"title":"t"},"slack":{"message":"m"}}}`,
		`{"type":"self-service","users":[{"slack":"a"}],"body":{"github":{"title":"t"},"slack":{"message":"m","prompt":"","actions":{"yes":"","no":"  "}}}}`,
		strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
		`{"type":"broadcast","users":` + strings.Repeat(`[`, 50) + strings.Repeat(`]`, 50) + `}`,
	} {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		a, warnings, err := alerts.Decode(data)
		a2, warnings2, err2 := alerts.Decode(data)
		if !reflect.DeepEqual(a, a2) || !slices.Equal(warnings, warnings2) || !reflect.DeepEqual(err, err2) {
			t.Fatalf("Decode is not deterministic:\n%+v %q %v\n%+v %q %v", a, warnings, err, a2, warnings2, err2)
		}
		if err != nil {
			var inv *alerts.InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("error %v is a %T, not an *alerts.InvalidError", err, err)
			}
			if len(inv.Problems) == 0 {
				t.Fatal("InvalidError with no problems")
			}
			if !reflect.DeepEqual(a, alerts.Alarm{}) {
				t.Fatalf("an invalid message came with an alarm: %+v", a)
			}
			return
		}
		checkValid(t, a)
	})
}
