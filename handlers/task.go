package handlers

import "time"

// Task kinds.
const (
	TaskAnswer = "answer" // finish recording an answer that failed on its first try
	TaskReason = "reason" // a submitted reason modal's words, made durable before its ack (TakeReason)
)

// Task is work deferred through the queue. It is plain data: the queue adapter serialises and signs
// it, and hands it back to Router.RunTask on whichever replica receives it.
type Task struct {
	Kind   string        `json:"kind"`
	Delay  time.Duration `json:"-"` // how long the queue holds it before delivery (at most 15 minutes)
	Answer *AnswerTask   `json:"answer,omitempty"`
	// Deadline is set for TaskRemind and TaskEscalate.
	Deadline *DeadlineTask `json:"deadline,omitempty"`
	// File is set for TaskFile and TaskLink.
	File *FileTask `json:"file,omitempty"`
	// The steps of section 0 of docs/RELIABILITY.md, each set for its kind.
	Prompt *PromptTask `json:"prompt,omitempty"`
	Record *RecordTask `json:"record,omitempty"`
	Settle *SettleTask `json:"settle,omitempty"`
	Page   *PageTask   `json:"page,omitempty"`
	// Reason is set for TaskReason.
	Reason *ReasonTask `json:"reason,omitempty"`
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
	// MFA is the Duo check's outcome, when the Yes was checked (issue 19); Wrong marks a "not
	// about me" answer (Yes is false).
	MFA   *MFAOutcome `json:"mfa,omitempty"`
	Wrong bool        `json:"wrong,omitempty"`
	// Guarded marks a "not about me" to an alarm whose Yes needs a Duo push: it asked Duo nothing,
	// so it must not lower the page a stolen session would otherwise earn (severityOf).
	Guarded bool `json:"guarded,omitempty"`
}

// TaskValidity is how long deferred work stays valid, counted from when it began (Task.Expiry): a day
// past maxRetryAge, after which the handlers themselves end work that keeps failing (logged,
// announced, dead-lettered). So a task past its expiry was stranded (dispatch down for days) or is
// a replay of a copy; the queue adapter drops it, logged and counted, instead of acting on it. It
// bounds how long a signed task can be replayed.
const TaskValidity = maxRetryAge + 24*time.Hour

// Expiry is the time after which t must not run, given when it is issued (sealed). It counts from
// when the work began (the click, the due time, the prompt), not from issued, so a task that
// re-defers itself cannot extend its own life; issued stands in only when the task carries no
// such time.
func (t Task) Expiry(issued time.Time) time.Time {
	switch {
	case t.Answer != nil && !t.Answer.At.IsZero():
		return t.Answer.At.Add(TaskValidity)
	case t.Deadline != nil && !t.Deadline.DueAt.IsZero():
		return t.Deadline.DueAt.Add(TaskValidity)
	case t.File != nil && !t.File.Since.IsZero():
		return t.File.Since.Add(TaskValidity)
	case t.Prompt != nil && !t.Prompt.Since.IsZero():
		return t.Prompt.Since.Add(TaskValidity)
	case t.Record != nil && !t.Record.At.IsZero():
		return t.Record.At.Add(TaskValidity)
	case t.Settle != nil && !t.Settle.At.IsZero():
		return t.Settle.At.Add(TaskValidity)
	case t.Page != nil && !t.Page.At.IsZero():
		return t.Page.At.Add(TaskValidity)
	case t.Reason != nil && !t.Reason.At.IsZero():
		return t.Reason.At.Add(TaskValidity)
	}
	return issued.Add(TaskValidity)
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
	case t.Prompt != nil:
		return t.Kind + "/" + t.Prompt.Ticket.Alarm + "/" + t.Prompt.Ticket.User
	case t.Record != nil:
		return t.Kind + "/" + t.Record.Ticket.Alarm + "/" + t.Record.Ticket.User
	case t.Settle != nil:
		return t.Kind + "/" + t.Settle.Ticket.Alarm + "/" + t.Settle.Ticket.User
	case t.Page != nil:
		return t.Kind + "/" + t.Page.Ticket.Alarm + "/" + t.Page.Ticket.User
	case t.Reason != nil:
		return t.Kind + "/" + t.Reason.Ticket.Alarm + "/" + t.Reason.Ticket.User
	}
	return t.Kind
}
