// Package deploy holds how dispatch is run in production, and the tests that keep it honest:
// dispatch.yaml (CloudFormation: the SNS topic, the SQS queue with its dead-letter queue, the
// subscription, the queue policies, least-privilege IAM policies, CloudWatch alarms on the queues
// and, as an option, the bot on ECS Fargate), the Helm chart under helm/, Prometheus alert rules
// under prometheus/, a Grafana dashboard under grafana/, and the release image's Dockerfile.release
// (built by GoReleaser, ../.goreleaser.yaml). It has no Go code; its tests parse each of them and
// check it against the code (the SQS calls sqsqueue makes, the metrics the bot exports, its secret
// settings, every setting of the README's Configuration table reaching the ECS task).
package deploy
