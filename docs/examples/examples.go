// Package examples holds the example alarms of docs/examples, embedded, so that a program (the
// demo) can offer them without reading files relative to where it is started.
package examples

import "embed"

// FS holds every *.json file of docs/examples at its root.
//
//go:embed *.json
var FS embed.FS
