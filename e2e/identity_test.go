package e2e

import (
	"strings"
	"testing"

	"github.com/dispatch-oss/dispatch/fakes/fakeslack"
	"github.com/dispatch-oss/dispatch/fakes/stack"
)

// identityUsers: mallory, listed first, has set her display name to dana's username; two users
// share the display name "twin".
var identityUsers = []fakeslack.User{
	{ID: "U0MAL", Name: "mallory", RealName: "Mallory", DisplayName: "dana"},
	{ID: "U0DANA", Name: "dana", RealName: "Dana Scully", DisplayName: "ds"},
	{ID: "U0TWIN1", Name: "twin.one", DisplayName: "twin"},
	{ID: "U0TWIN2", Name: "twin.two", DisplayName: "twin"},
}

// A user who sets their display name to a colleague's username does not get the colleague's DM
// (nor can their Yes close it): the username wins.
func TestADisplayNameCannotTakeAColleaguesDM(t *testing.T) {
	e := stack.New(t, stack.Options{Users: identityUsers})
	e.StartBot()
	e.PublishRaw(`{"type":"self-service","users":[{"slack":"dana"}],"body":{"github":{"title":"new MFA device"},"slack":{"message":"A new MFA device was registered."}}}`)
	m := e.DM("U0DANA", 1)
	e.QueueEmpty(wait)
	if dms := e.Slack.DMs("U0MAL"); len(dms) != 0 {
		t.Fatalf("mallory got dana's DM: %d messages", len(dms))
	}
	if len(stack.Buttons(t, m)) != 2 {
		t.Errorf("dana's DM has no buttons: %s", m.Blocks)
	}
}

// A display name two users share reaches neither: the fallback channel says so, without buttons,
// and an unknown slackId is named there too, while the alarm's other user still gets their DM.
func TestAmbiguousAndUnknownUsersAreNamedAndTheOthersStillGetTheirDM(t *testing.T) {
	e := stack.New(t, stack.Options{Users: identityUsers})
	e.StartBot()
	e.PublishRaw(`{"type":"self-service","users":[{"slackId":"U0GONE"},{"slack":"twin"},{"slack":"dana"}],"body":{"github":{"title":"odd login"},"slack":{"message":"An odd login."}}}`)
	e.DM("U0DANA", 1)
	e.QueueEmpty(wait)
	for _, id := range []string{"U0TWIN1", "U0TWIN2", "U0MAL"} {
		if n := len(e.Slack.DMs(id)); n != 0 {
			t.Errorf("%s got %d DMs", id, n)
		}
	}
	notices := e.Slack.Messages(fallbackChannel)
	all := ""
	for _, n := range notices {
		if len(stack.Buttons(t, n)) != 0 {
			t.Errorf("a fallback notice has live buttons: %s", n.Blocks)
		}
		all += string(n.Blocks)
	}
	for _, want := range []string{"U0GONE", "no slack user has the ID", "twin", "2 slack users have the display or real name"} {
		if !strings.Contains(all, want) {
			t.Errorf("the fallback notices don't say %q: %s", want, all)
		}
	}
}
