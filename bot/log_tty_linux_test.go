//go:build linux

package bot

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestConsoleColoursOnlyOnATerminal: console output is coloured on a terminal (a pseudo-terminal
// here), and neither when written elsewhere nor with NO_COLOR set.
func TestConsoleColoursOnlyOnATerminal(t *testing.T) {
	const esc = "\x1b["
	var buf bytes.Buffer
	log := NewLogger(&buf, "info", "console")
	log.Info().Str("k", "v").Msg("to a buffer")
	if strings.Contains(buf.String(), esc) {
		t.Errorf("colours written to a buffer: %q", buf.String())
	}
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	if IsTerminal(devNull) {
		t.Error("/dev/null (a character device, not a terminal) taken for a terminal")
	}

	for _, tc := range []struct {
		noColor string
		colours bool
	}{{"", true}, {"1", false}} {
		t.Run("NO_COLOR="+tc.noColor, func(t *testing.T) {
			t.Setenv("NO_COLOR", tc.noColor)
			ptmx, tty := openPTY(t)
			log := NewLogger(tty, "info", "console")
			log.Info().Str("k", "v").Msg("to a terminal")
			out := make([]byte, 4096)
			n, err := ptmx.Read(out)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(string(out[:n]), esc); got != tc.colours {
				t.Errorf("colours = %v, want %v: %q", got, tc.colours, out[:n])
			}
		})
	}
}

// openPTY opens a pseudo-terminal: the controlling side, and the terminal a program would write to.
func openPTY(t *testing.T) (ptmx, tty *os.File) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return ptmx, tty
}
