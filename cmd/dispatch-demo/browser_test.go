package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dispatch-oss/dispatch/fakes/fakeduo"
	"github.com/dispatch-oss/dispatch/fakes/stack"
)

// browserWait bounds each step in the browser: generous, since the machine is shared.
const browserWait = 60 * time.Second

// chromium finds Debian's chromium. Without it the test fails, naming the package, unless the
// developer opted out outside CI: a skipped browser test must never pass for a CI run.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "" && os.Getenv("DISPATCH_SKIP_BROWSER") == "1" {
		t.Skip("no chromium, and DISPATCH_SKIP_BROWSER=1 outside CI")
	}
	t.Fatal("the demo's browser test needs Chromium: apt-get update && apt-get install -y chromium " +
		"(or, outside CI only, set DISPATCH_SKIP_BROWSER=1 to skip this test)")
	return ""
}

func startDemo(t *testing.T) *Demo {
	t.Helper()
	d, err := Start(context.Background(), Options{Addr: "127.0.0.1:0", Log: io.Discard, LogLevel: "warn"})
	if err != nil {
		t.Fatalf("start the demo: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Errorf("close the demo: %v", err)
		}
	})
	return d
}

// browser starts a headless Chromium from exe, stopped when the test ends.
func browser(t *testing.T, exe string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // root in a container has no user namespace for the sandbox
		chromedp.WindowSize(1500, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	return ctx
}

// do runs browser actions within browserWait, failing the test with what was being waited for.
func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// get runs one browser action that reads a value, within browserWait.
func get[T any](t *testing.T, ctx context.Context, what string, action chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	v, err := chromedp.Run(sctx, action)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// TestDemoInABrowser is the demo as a newcomer uses it: open the page, publish the example
// self-service alarm with the form, see Alice's DM, click No as Alice, and see the issue
// labelled dispatch:escalated and the incident triggered, all on the page. The click goes
// through the fake Slack's Socket Mode path. Carol's Yes waits for her Duo push, which she approves
// in the Duo Mobile panel, and her DM settles. An alarm with markup in it is shown as text.
func TestDemoInABrowser(t *testing.T) {
	exe := chromium(t) // before anything starts, so a missing browser fails fast
	d := startDemo(t)
	ctx := browser(t, exe) // stopped before the demo: cleanups run last-in first-out

	// The first call starts the browser, which lives as long as that call's context: no timeout.
	if err := chromedp.Do(ctx, chromedp.Navigate(d.URL())); err != nil {
		t.Fatalf("open the page: %v", err)
	}
	do(t, ctx, "load the examples",
		chromedp.WaitReady(`//select[@id="example"]/option[@value="self-service.json"]`),
		chromedp.SetValue(chromedp.ID("example"), "self-service.json"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("example").dispatchEvent(new Event("change")), undefined`),
	)
	alarm := get(t, ctx, "read the form", chromedp.Value(chromedp.ID("alarm")))
	if !strings.Contains(alarm, `"type": "self-service"`) {
		t.Fatalf("the form holds %q, want the self-service example", alarm)
	}
	do(t, ctx, "publish it", chromedp.Click(chromedp.ID("send")),
		chromedp.WaitVisible(`//p[@id="status" and not(@class="error") and contains(., "Published to SNS as message")]`))

	no := `//div[@id="person-U0ALICE"]//button[@data-action-id="dispatch_no"]`
	do(t, ctx, "see Alice's DM with its buttons",
		chromedp.WaitVisible(`//div[@id="person-U0ALICE"]//p[contains(., "Was this you signing in from Lisbon?")]`),
		chromedp.WaitVisible(no))
	label := get(t, ctx, "read the No button", chromedp.Text(no))
	do(t, ctx, "click No", chromedp.Click(no))
	if label != "No, that wasn't me" {
		t.Errorf("the No button reads %q", label)
	}

	do(t, ctx, "see the issue labelled and the incident open",
		chromedp.WaitVisible(`//div[contains(@class,"issue")]//li[.="dispatch:escalated"]`),
		chromedp.WaitVisible(`//div[contains(@class,"incident")]//span[contains(@class,"state") and .="triggered"]`),
		chromedp.WaitVisible(`//div[@id="person-U0ALICE"]//p[contains(., "The security on-call has been paged")]`),
	)
	// What the page shows is what the services hold.
	issues := d.svc.GitHub.Issues("acme/security-alarms")
	if len(issues) != 1 || !slices.Contains(issues[0].Labels, "dispatch:escalated") || issues[0].State != "open" {
		t.Errorf("GitHub holds %+v, want one open issue labelled dispatch:escalated", issues)
	}
	if in := d.svc.PD.Incidents(); len(in) != 1 || in[0].Status != "triggered" || in[0].RoutingKey != exampleServiceKey {
		t.Errorf("PagerDuty holds %+v, want one triggered incident on %s", in, exampleService)
	}

	// The issue reads as GitHub shows it: dispatch's **No** bold, the dedup key in code, the
	// answerer named; no Markdown syntax left showing.
	do(t, ctx, "see the answer comment rendered",
		chromedp.WaitVisible(`//div[contains(@class,"issue")]//div[@class="comment"]/b[.="No"]`),
		chromedp.WaitVisible(`//div[contains(@class,"issue")]//div[@class="comment"]/code[starts-with(., "dispatch:esc:")]`),
		chromedp.WaitVisible(`//div[contains(@class,"issue")]//div[@class="comment"][contains(., "Slack user alice (U0ALICE) said this was not them")]`),
	)
	if raw := get(t, ctx, "look for Markdown left raw", chromedp.Evaluate[bool](
		`[...document.querySelectorAll(".issue, .msg")].some((e) => /\*\*|`+"`"+`|:warning:/.test(e.textContent))`)); raw {
		t.Error("the page shows raw Markdown (** or backticks) or an emoji name")
	}
	// Links lead to the page's own cards, never to github.com or slack.com: the DM's link to the
	// issue, and the incident's links to the issue and the DM.
	do(t, ctx, "follow the DM's link to its issue",
		chromedp.Click(`//div[@id="person-U0ALICE"]//a[starts-with(@href, "#issue-acme-security-alarms-")]`),
		chromedp.WaitVisible(`//div[contains(@class,"issue") and starts-with(@id, "issue-acme-security-alarms-")]`),
		chromedp.WaitVisible(`//div[contains(@class,"incident")]//a[starts-with(@href, "#msg-D")]`),
	)
	if n := get(t, ctx, "count links out of the demo", chromedp.Evaluate[int](
		`[...document.querySelectorAll("a")].filter((a) => !a.getAttribute("href").startsWith("#")).length`)); n != 0 {
		t.Errorf("%d links lead out of the demo", n)
	}

	// :emoji: names show as the emoji, as in Slack.
	do(t, ctx, "publish the broadcast example",
		chromedp.SetValue(chromedp.ID("example"), "broadcast.json"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("example").dispatchEvent(new Event("change")), undefined`),
		chromedp.Click(chromedp.ID("send")),
		chromedp.WaitVisible(`//div[@id="person-U0ALICE"]//p[contains(., "⚠️ Heads up")]/b[.="it-helpdesk@examp1e.com"]`),
	)

	// Bad input: the status line says it was rejected, in the error style, why, and links the
	// notice in the fallback panel.
	do(t, ctx, "publish bad JSON",
		chromedp.SetValue(chromedp.ID("alarm"), `{"type": "self-service",`),
		chromedp.Click(chromedp.ID("send")),
		chromedp.WaitVisible(`//p[@id="status" and @class="error" and contains(., "Rejected by dispatch: invalid alarm: message is not JSON: line 1, column 25")]`),
		chromedp.Click(`//p[@id="status"]/a[starts-with(@href, "#msg-C0FALLBACK-")]`),
		chromedp.WaitVisible(`//div[@id="fallback"]/div[contains(@class,"msg") and starts-with(@id, "msg-C0FALLBACK-")]//p[contains(., "Rejected an alarm")]`),
	)
	if target := get(t, ctx, "read where the link went", chromedp.Evaluate[string](`document.querySelector(":target")?.textContent || ""`)); !strings.Contains(target, "message is not JSON") {
		t.Errorf("the notice link leads to %q, want the rejection notice", target)
	}

	// A Yes waits for a Duo push: the DM says so in place of its buttons and the Duo Mobile panel
	// lists the push, naming the alarm, until Carol approves it there. The screenshot shows it waiting.
	const sshKey = "New SSH key on carol's GitHub account"
	yes := `//div[@id="person-U0CAROL"]//button[@data-action-id="dispatch_yes"]`
	push := `//div[@id="duo"]/div[contains(@class,"push") and .//dd[.="` + sshKey + `"]]`
	do(t, ctx, "publish an alarm for Carol and click Yes",
		chromedp.SetValue(chromedp.ID("alarm"), `{"type":"self-service","users":[{"slack":"carol@example.com"}],"body":{"github":{"title":"`+sshKey+`"},"slack":{"message":"A new SSH key was added to your GitHub account from 198.51.100.7.","prompt":"Did you add this key?"}}}`),
		chromedp.Click(chromedp.ID("send")),
		chromedp.WaitVisible(yes))
	do(t, ctx, "click Yes",
		chromedp.Click(yes))
	do(t, ctx, "see the DM wait",
		chromedp.WaitVisible(`//div[@id="person-U0CAROL"]//div[contains(@class,"msg") and .//p[contains(., "Did you add this key?")]]//p[contains(., "Approve the Duo push on your phone")]`),
	)
	do(t, ctx, "see the push",
		chromedp.WaitVisible(push+`//div[@class="title" and contains(., "Duo push for @carol")]`),
	)
	if n := get(t, ctx, "count Carol's buttons", chromedp.Evaluate[int](`document.querySelectorAll("#person-U0CAROL button").length`)); n != 0 {
		t.Errorf("Carol's DM shows %d buttons while her push waits", n)
	}
	for _, is := range d.svc.GitHub.Issues(stack.Repo) {
		if is.Title == sshKey && (is.State != "open" || len(is.Comments) != 0) {
			t.Errorf("Carol's issue is %s with %d comments before her push is answered", is.State, len(is.Comments))
		}
	}

	// At 800 px wide the page still fits: no sideways scrolling, every column inside the window.
	do(t, ctx, "narrow the window", chromedp.EmulateViewport(800, 900))
	if fits := get(t, ctx, "measure the columns", chromedp.Evaluate[bool](
		`document.documentElement.scrollWidth <= innerWidth && [...document.querySelectorAll(".column")].every((c) => c.getBoundingClientRect().right <= innerWidth && c.getBoundingClientRect().width >= 300)`)); !fits {
		t.Error("at 800 px the page scrolls sideways or squeezes a column under 300 px")
	}
	do(t, ctx, "restore the window", chromedp.EmulateViewport(1500, 1000))

	if path := os.Getenv("DISPATCH_DEMO_SCREENSHOT"); path != "" {
		png := get(t, ctx, "take the screenshot", chromedp.FullScreenshot(100))
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	do(t, ctx, "approve Carol's push in the Duo Mobile panel",
		chromedp.Click(push+`//button[@data-answer="approve"]`),
		chromedp.WaitVisible(`//div[@id="duo"]/div[@class="empty" and .="no pushes waiting"]`),
		chromedp.WaitVisible(`//div[@id="person-U0CAROL"]//div[contains(@class,"msg") and .//p[contains(., "Did you add this key?")]]//p[contains(., "You answered Yes")]`),
		chromedp.WaitVisible(`//div[contains(@class,"issue") and contains(., "`+sshKey+`")]//span[contains(@class,"state") and .="closed"]`),
	)
	if held := get(t, ctx, "read Carol's settled DM", chromedp.Evaluate[bool](
		`[...document.querySelectorAll("#person-U0CAROL .msg:not(.ephemeral):not(.reply)")].some((m) => m.textContent.includes("Approve the Duo push"))`)); held {
		t.Error("Carol's DM still asks for the push after she approved it")
	}
	if p := d.duo.Pushes(); len(p) != 1 || p[0].Outcome != fakeduo.Approve || p[0].Username != "carol@example.com" {
		t.Errorf("Duo holds %+v, want Carol's one approved push", p)
	}

	// Alarm text is untrusted: markup in it must reach the page as text, never as elements.
	hostile := `{"type":"self-service","users":[{"slack":"bob"}],"body":{"github":{"title":"<img id=pwned src=x onerror=alert(1)> title","body":"[click](javascript:alert(1)) **<img id=md-pwned src=x onerror=alert(1)>** <a id=a-pwned href=https://evil.example>x</a>"},"slack":{"message":"<b id=bold-pwned>hi</b> *real bold* <javascript:alert(1)|click> <https://evil.example|evil>","prompt":"<script id=script-pwned>alert(1)</script>"}}}`
	do(t, ctx, "publish an alarm with markup in it",
		chromedp.SetValue(chromedp.ID("alarm"), hostile),
		chromedp.Click(chromedp.ID("send")),
		chromedp.WaitVisible(`//div[@id="person-U0BOB"]//p[contains(., "alert(1)")]`),
		chromedp.WaitVisible(`//div[contains(@class,"issue")]//div[contains(., "<img id=pwned")]`),
		chromedp.WaitVisible(`//div[contains(@class,"issue")]//div[@class="body"]/b[contains(., "<img id=md-pwned")]`),
		chromedp.WaitVisible(`//div[@id="person-U0BOB"]//p/b[.="real bold"]`),
	)
	injected := get(t, ctx, "count injected elements",
		chromedp.Evaluate[int](`document.querySelectorAll("#pwned, #bold-pwned, #script-pwned, #md-pwned, #a-pwned").length + [...document.querySelectorAll("a")].filter((a) => !a.getAttribute("href").startsWith("#")).length`))
	if injected != 0 {
		t.Errorf("%d elements from the alarm's markup were created", injected)
	}
}
