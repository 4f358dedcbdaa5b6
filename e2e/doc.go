// Package e2e runs dispatch end to end, in process: goaws for SQS and SNS, and the fakes of Slack
// (Web API and Socket Mode), GitHub and PagerDuty, all driven through the real client libraries.
// Nothing of dispatch's own code is replaced.
package e2e
