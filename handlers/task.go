package handlers

import "time"

// Task kinds.
const (
	TaskAnswer = "answer" // finish recording an answer that failed on its first try
)

// Task is work deferred through the queue. It is plain data: the queue adapter serialises and signs
// it, and hands it back to Router.RunTask on whichever replica receives it.
type Task struct {
	Kind   string        `json:"kind"`
	Delay  time.Duration `json:"-"` // how long the queue holds it before delivery (at most 15 minutes)
	Answer *AnswerTask   `json:"answer,omitempty"`
	// Deadline is set for TaskRemind and TaskEscalate.
	Deadline *DeadlineTask `json:"deadline,omitempty"`
	// File is set for TaskFile.
	File *FileTask `json:"file,omitempty"`
}

// AnswerTask is an answer that still has to reach GitHub or PagerDuty.
type AnswerTask struct {
	Ticket  Ticket     `json:"ticket"`
	Yes     bool       `json:"yes"`
	UserID  string     `json:"user"`
	At      time.Time  `json:"at"`
	Message MessageRef `json:"message"`
	// ResponseURL is kept only for the first try: Slack's response URLs expire after 30 minutes.
	ResponseURL string `json:"-"`
	Attempts    int    `json:"attempts"`
}

// How long deferred work stays valid. A task past its expiry is dropped by the queue adapter (logged
// and counted) instead of acted on: it bounds how long a signed task can be replayed, and how long a
// transient failure is retried. The bounds are far beyond an outage of hours (see the README's
// "Outages of an hour"), short enough that a stolen task is worthless within days.
const (
	// AnswerRetryFor bounds the retries of an answer, from the click.
	AnswerRetryFor = 72 * time.Hour
	// DeadlineGrace is how long after its due time a reminder or an escalation may still run: its
	// chain of re-deferrals (15 minutes at most each) ends there.
	DeadlineGrace = 72 * time.Hour
	// FileRetryFor bounds the filing of a prompt's issue, from the prompt.
	FileRetryFor = 72 * time.Hour
)

// Expiry is the time after which t must not run, given when it is issued (sealed). It is computed
// from when the work began (the click, the deadline, the prompt), not from issued, so a task that
// re-defers itself cannot extend its own life; issued stands in only when the task carries no
// such time.
func (t Task) Expiry(issued time.Time) time.Time {
	switch {
	case t.Answer != nil && !t.Answer.At.IsZero():
		return t.Answer.At.Add(AnswerRetryFor)
	case t.Deadline != nil && !t.Deadline.DueAt.IsZero():
		return t.Deadline.DueAt.Add(DeadlineGrace)
	case t.File != nil && !t.File.Since.IsZero():
		return t.File.Since.Add(FileRetryFor)
	}
	return issued.Add(AnswerRetryFor)
}

// ID names the work a task does, the same for every copy of it (a redelivery, a re-deferral, a
// replay): kind, alarm and user. It is the key of the marker dispatch writes on the issue when the
// work is done (answerMarker, the deadline's marker, the issue's own marker), which is what makes a
// replayed task a no-op: it finds its marker and stops.
func (t Task) ID() string {
	switch {
	case t.Answer != nil:
		return t.Kind + "/" + t.Answer.Ticket.Alarm + "/" + t.Answer.Ticket.User
	case t.Deadline != nil:
		return t.Kind + "/" + t.Deadline.Ticket.Alarm + "/" + t.Deadline.Ticket.User
	case t.File != nil:
		return t.Kind + "/" + t.File.Alarm + "/" + t.File.Key
	}
	return t.Kind
}
