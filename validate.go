package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dispatch-oss/dispatch/alerts"
	"github.com/dispatch-oss/dispatch/sqsqueue"
)

var validateCommand = &command{
	name:    "validate",
	args:    "[--strict] [--format text|json] FILE|GLOB|- ...",
	summary: "check alarm messages against the spec",
	description: `Checks alarm messages (files, glob patterns such as 'docs/examples/*.json', or standard input
for "-") against the message spec, one result line per file, listing every problem of each at
once. A message may be the alarm itself or the SNS notification that carries it, as the queue
receives it: dispatch unwraps it exactly as the bot does. A JSON syntax error says its line and
column. Unknown keys, which the bot ignores, and anything after the first JSON value are
warnings, naming the nearest known key ("did you mean remindAfter?"). Flags may come before or
after the files.

With --format json, each file's result is one JSON object on a line of standard output:
{"file", "valid", "type", "envelope" ("sns" when unwrapped), "problems" [{"field", "message",
"line", "column"}], "warnings", "error" (the file could not be read)}.`,
	exits: "0 every file valid, 1 one or more invalid (or, with --strict, with warnings), 2 usage error or an unreadable file",
	flags: func(fs *flagSet) runner {
		strict := fs.Bool("strict", false, "treat warnings (unknown keys, trailing data) as errors")
		format := fs.String("format", "text", "output: text, or json (one JSON object per file and line, for CI)")
		return func(inv *invocation) int {
			if inv.fs.NArg() == 0 {
				return inv.usageError("validate takes one or more FILEs or GLOBs, or - for standard input")
			}
			if *format != "text" && *format != "json" {
				return inv.usageError(fmt.Sprintf("--format %q: use text or json", *format))
			}
			code := exitOK
			for _, v := range validateAll(inv.fs.Args(), inv.stdin, *strict) {
				if *format == "json" {
					_ = json.NewEncoder(inv.stdout).Encode(v)
				} else {
					v.print(inv.stdout, inv.stderr)
				}
				code = max(code, v.code)
			}
			return code
		}
	},
}

// verdict is what validate found in one input; its JSON form is validate's --format json line.
type verdict struct {
	File     string    `json:"file"`
	Valid    bool      `json:"valid"`
	Type     string    `json:"type,omitempty"`
	Envelope string    `json:"envelope,omitempty"` // "sns": the alarm came in an SNS notification
	Problems []problem `json:"problems,omitempty"`
	Warnings []string  `json:"warnings,omitempty"`
	Error    string    `json:"error,omitempty"` // the input could not be read
	strict   bool
	code     int
}

// problem is an alerts.Problem in validate's JSON output.
type problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
}

// stdinName names standard input in validate's output.
const stdinName = "standard input"

// validateAll reads and judges each argument: a file, "-" for stdin, or a glob pattern, each file
// it matches in turn. A pattern that matches nothing is a verdict of its own, unreadable.
func validateAll(args []string, stdin io.Reader, strict bool) []verdict {
	var out []verdict
	for _, arg := range args {
		names := []string{arg}
		if arg != "-" && strings.ContainsAny(arg, "*?[") {
			if _, err := os.Stat(arg); err != nil { // a file may be named with these characters
				matches, err := filepath.Glob(arg)
				if err != nil || len(matches) == 0 {
					out = append(out, verdict{File: arg, Error: "no file matches this pattern", code: exitUsage})
					continue
				}
				names = matches
			}
		}
		for _, name := range names {
			data, err := readInput(name, stdin)
			if name == "-" {
				name = stdinName
			}
			if err != nil {
				var pe *fs.PathError
				if errors.As(err, &pe) {
					err = pe.Err // the file is named already
				}
				out = append(out, verdict{File: name, Error: err.Error(), code: exitUsage})
				continue
			}
			out = append(out, judge(name, data, strict, true))
		}
	}
	return out
}

// judge validates one message. With unwrap, an SNS notification is opened as the bot opens it
// (sqsqueue.Unwrap, the same code), and the alarm inside judged.
func judge(name string, data []byte, strict, unwrap bool) verdict {
	v := verdict{File: name, strict: strict}
	if unwrap {
		u, err := sqsqueue.Unwrap(data, "", nil, time.Now())
		switch {
		case errors.Is(err, sqsqueue.ErrTaskSignature):
			return v.invalid(alerts.Problem{Message: "this is one of dispatch's own task messages, not an alarm"})
		case err != nil:
			return v.invalid(alerts.Problem{Message: err.Error()})
		}
		if !bytes.Equal(u.Payload, data) {
			v.Envelope, data = "sns", u.Payload
		}
	}
	a, warnings, err := alerts.Decode(data)
	v.Warnings = warnings
	var inv *alerts.InvalidError
	if errors.As(err, &inv) {
		return v.invalid(inv.Problems...)
	}
	v.Type = string(a.Type)
	if strict && len(warnings) > 0 {
		v.code = exitFailure
		return v
	}
	v.Valid = true
	return v
}

func (v verdict) invalid(ps ...alerts.Problem) verdict {
	for _, p := range ps {
		v.Problems = append(v.Problems, problem{Field: p.Field, Message: p.Message, Line: p.Line, Column: p.Column})
	}
	v.code = exitFailure
	return v
}

// print writes the verdict as text: one result line (a valid one on stdout, anything else on
// stderr), then the problems and warnings, indented, on stderr. A verdict without File (publish's)
// has no name in front.
func (v verdict) print(stdout, stderr io.Writer) {
	name, in := "", ""
	if v.File != "" {
		name = v.File + ": "
	}
	if v.Envelope == "sns" {
		in = " (in an SNS envelope)"
	}
	switch {
	case v.Error != "":
		fmt.Fprintf(stderr, "%sunreadable: %s\n", name, v.Error)
	case v.Valid:
		fmt.Fprintf(stdout, "%svalid %s alarm%s\n", name, v.Type, in)
	case len(v.Problems) > 0:
		fmt.Fprintf(stderr, "%sinvalid%s: %d problem(s):\n", name, in, len(v.Problems))
		for _, p := range v.Problems {
			fmt.Fprintln(stderr, "  -", alerts.Problem{Field: p.Field, Message: p.Message}.String())
		}
	default:
		fmt.Fprintf(stderr, "%sinvalid with --strict%s: %d warning(s)\n", name, in, len(v.Warnings))
	}
	label := "warning:"
	if v.strict {
		label = "error (--strict):"
	}
	for _, w := range v.Warnings {
		fmt.Fprintln(stderr, "  "+label, w)
	}
}

// report validates one alarm as publish sends it (no envelope: SNS adds its own) and prints the
// verdict; it returns the exit code.
func report(data []byte, strict bool, stdout, stderr io.Writer) int {
	v := judge("", data, strict, false)
	v.print(stdout, stderr)
	return v.code
}
