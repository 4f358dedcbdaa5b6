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
