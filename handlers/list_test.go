package handlers

import (
	"strings"
	"testing"
)

// /dispatch list shows only dispatch's own issues: one anyone opened with the dispatch label and a
// copied marker naming the caller is not their alarm (the App Home filters the same way).
func TestListShowsOnlyDispatchsOwnIssues(t *testing.T) {
	w := newWorld(t, "U1")
	w.issues.seed(testRepo, "mallory", NewIssue{Title: "URGENT: re-enter your SSO password at evil.example",
		Body: "x\n\n<!-- dispatch alarm=fake user=u1 slack=U1 -->", Labels: []string{LabelDispatch}})
	w.handle(t, selfService("req-a", "a real alarm", "a", []string{"U1"}, ""))
	c := NewCommands(testRepo, nil, w.r, nil, [][]byte{testKey})
	r := c.Command(testCtx(t), Command{UserID: "U1", Text: "list"})
	if strings.Contains(r.Text, "evil.example") {
		t.Errorf("/dispatch list shows an issue mallory opened as the caller's alarm:\n%s", r.Text)
	}
	if !strings.Contains(r.Text, "a real alarm") {
		t.Errorf("/dispatch list leaves out the caller's own alarm:\n%s", r.Text)
	}
}
