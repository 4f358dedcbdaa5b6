package main

import (
	"encoding/json"
	"sort"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/fakeslack"
	"github.com/dispatch-oss/dispatch/fakes/stack"
)

// state is what the page shows: everything dispatch has done, as the four services hold it.
// Text here is as the services store it and untrusted (it comes from alarms): the page puts
// it in the document as text, never as markup.
type state struct {
	People    []person   `json:"people"`
	Fallback  []message  `json:"fallback"`
	Issues    []issue    `json:"issues"`
	Incidents []incident `json:"incidents"`
	DuoPushes []duoPush  `json:"duoPushes"` // the pushes waiting for an answer (see duo.go)
}

type person struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	RealName   string    `json:"realName"`
	Email      string    `json:"email"`
	DMs        []message `json:"dms"`
	Ephemerals []message `json:"ephemerals"`
}

type message struct {
	Channel  string          `json:"channel"`
	TS       string          `json:"ts"`
	ThreadTS string          `json:"threadTs,omitempty"`
	Text     string          `json:"text"`
	Blocks   json.RawMessage `json:"blocks,omitempty"`
	Updated  int             `json:"updated"`
	Posted   time.Time       `json:"posted"`
}

type issue struct {
	Repo      string    `json:"repo"`
	Number    int       `json:"number"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	State     string    `json:"state"`
	Labels    []string  `json:"labels"`
	Assignees []string  `json:"assignees"`
	Comments  []comment `json:"comments"`
	Created   time.Time `json:"created"`
}

type comment struct {
	Author  string    `json:"author"`
	Body    string    `json:"body"`
	Created time.Time `json:"created"`
}

type incident struct {
	Service  string          `json:"service"`
	DedupKey string          `json:"dedupKey"`
	Summary  string          `json:"summary"`
	Status   string          `json:"status"`
	Events   int             `json:"events"`
	Links    []link          `json:"links"`
	Details  json.RawMessage `json:"details,omitempty"`
}

type link struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// state reads the fakes. Routing keys are secrets of a PagerDuty service, so incidents name
// the service instead.
func (d *Demo) state() state {
	s := state{People: []person{}, Fallback: messages(d.svc.Slack.Messages(stack.FallbackChannel)), Issues: []issue{}, Incidents: []incident{},
		DuoPushes: d.duoPushes()}
	for _, u := range d.people {
		s.People = append(s.People, person{ID: u.ID, Name: u.Name, RealName: u.RealName, Email: u.Email,
			DMs: messages(d.svc.Slack.DMs(u.ID)), Ephemerals: messages(d.svc.Slack.Ephemerals(u.ID))})
	}
	for _, repo := range d.repos {
		for _, is := range d.svc.GitHub.Issues(repo) {
			out := issue{Repo: repo, Number: is.Number, Title: is.Title, Body: is.Body, State: is.State,
				Labels: nonNil(is.Labels), Assignees: nonNil(is.Assignees), Comments: []comment{}, Created: is.CreatedAt}
			for _, c := range is.Comments {
				out.Comments = append(out.Comments, comment{Author: c.Author, Body: c.Body, Created: c.CreatedAt})
			}
			s.Issues = append(s.Issues, out)
		}
	}
	sort.SliceStable(s.Issues, func(i, j int) bool { return s.Issues[i].Created.After(s.Issues[j].Created) })
	services := d.serviceNames()
	for _, in := range d.svc.PD.Incidents() {
		out := incident{Service: services[in.RoutingKey], DedupKey: in.DedupKey, Summary: in.Summary, Status: in.Status,
			Events: in.Events, Links: []link{}, Details: in.CustomDetails}
		for _, l := range in.Links {
			out.Links = append(out.Links, link{Href: l.Href, Text: l.Text})
		}
		s.Incidents = append(s.Incidents, out)
	}
	return s
}

// serviceNames names each routing key the bot is configured with, by its PagerDuty service id.
func (d *Demo) serviceNames() map[string]string {
	names := map[string]string{d.svc.Config.PagerDutyKey: "default service"}
	ids := make([]string, 0, len(d.svc.Config.ServiceKeys))
	for id := range d.svc.Config.ServiceKeys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		k := d.svc.Config.ServiceKeys[id]
		if names[k] == "" {
			names[k] = id
		} else if names[k] != "default service" {
			names[k] += ", " + id
		}
	}
	return names
}

func messages(ms []fakeslack.Message) []message {
	out := make([]message, 0, len(ms))
	for _, m := range ms {
		out = append(out, message{Channel: m.Channel, TS: m.TS, ThreadTS: m.ThreadTS, Text: m.Text,
			Blocks: m.Blocks, Updated: m.Updated, Posted: m.Posted})
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
