package reliability

// slackScale runs Slack's tiers at 60 times their real speed in these scenarios, in the fake and in
// dispatch's pacing alike: the limits stay on, but a scenario that kills and restarts dispatch
// three times, or runs two replicas, spends each new process's conversations.open budget afresh
// (a process can't know what its predecessor spent), and at Slack's real Tier 3 that is a minute's
// wait per restart, which these tests of loss and duplication don't measure. Slack's real limits
// are proved by the slackapi and fakeslack tests and measured in bench (BenchmarkSlack).
const slackScale = 60
