// Package deploy holds dispatch's CloudFormation template, dispatch.yaml: the SNS topic, the SQS
// queue with its dead-letter queue, the subscription, the queue policy and least-privilege IAM
// policies for the bot and for publishers. It has no Go code; its test parses the template and
// checks it against the SQS calls package sqsqueue makes.
package deploy
