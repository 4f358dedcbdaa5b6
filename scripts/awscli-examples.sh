#!/usr/bin/env bash
# Runs the README's `aws sns publish` examples for real: the AWS CLI (Debian's awscli) publishes
# them to a goaws started here, then TestAWSCLIExamples starts dispatch in process on that goaws,
# with the fake Slack, GitHub and PagerDuty, and checks that each example did what the README says.
#
#   bash scripts/awscli-examples.sh      # from the repository root
#
# Installs what is missing (awscli with apt-get, goaws with go install), then needs no network.
# Set RAW_MESSAGE_DELIVERY=false to subscribe the queue with the SNS envelope (the default, true,
# is deploy/dispatch.yaml's).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"

GOAWS_VERSION=v0.5.4
RAW_MESSAGE_DELIVERY=${RAW_MESSAGE_DELIVERY:-true}
start=$SECONDS
step() { printf '== [%3ds] %s\n' $((SECONDS - start)) "$*"; }

# --- the AWS CLI ---------------------------------------------------------------------------------
# Debian's package, whatever else may be on PATH (a pip-installed CLI behaves differently).
if ! dpkg-query -W -f='${Status}' awscli 2>/dev/null | grep -q "install ok installed"; then
  step "installing awscli with apt-get"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends awscli >/dev/null
fi
step "$(/usr/bin/aws --version 2>&1)"

# --- goaws, in a directory of its own: its binary is named "cmd" -----------------------------------
goaws_dir=${XDG_CACHE_HOME:-$HOME/.cache}/dispatch/goaws-$GOAWS_VERSION
goaws=$goaws_dir/cmd
if ! go version -m "$goaws" 2>/dev/null | grep -q "mod[[:space:]]*github.com/Admiral-Piett/goaws[[:space:]]*$GOAWS_VERSION"; then
  step "installing goaws $GOAWS_VERSION"
  mkdir -p "$goaws_dir"
  GOBIN=$goaws_dir go install "github.com/Admiral-Piett/goaws/app/cmd@$GOAWS_VERSION"
fi

work=$(mktemp -d)
goaws_pid=""
cleanup() {
  if [ -n "$goaws_pid" ]; then
    kill "$goaws_pid" 2>/dev/null || true
    wait "$goaws_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap "exit 129" HUP
trap "exit 130" INT
trap "exit 143" TERM # so that cleanup runs

# listening PORT: something accepts connections on 127.0.0.1:PORT.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# healthy PORT: goaws answers GET /health with 200.
healthy() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    IFS= read -r -t 2 status <&3 || exit 1
    [[ $status == *" 200 "* ]]
  ) 2>/dev/null
}

# goaws listens on the port its config names: pick a free one, and pick again if it was taken
# meanwhile (goaws then exits).
port=""
for attempt in 1 2 3 4 5; do
  candidate=$((20000 + RANDOM % 40000))
  listening "$candidate" && continue
  cat >"$work/goaws.yaml" <<EOF
Local:
  Host: 127.0.0.1
  Port: "$candidate"
  Region: us-east-1
  AccountId: "100010001000"
  LogToFile: false
  QueueAttributeDefaults:
    VisibilityTimeout: 30
EOF
  "$goaws" -config "$work/goaws.yaml" -loglevel warn >"$work/goaws.log" 2>&1 &
  goaws_pid=$!
  for _ in $(seq 100); do # up to 5 s
    if healthy "$candidate"; then port=$candidate; break 2; fi
    kill -0 "$goaws_pid" 2>/dev/null || break
    sleep 0.05
  done
  kill "$goaws_pid" 2>/dev/null || true
  wait "$goaws_pid" 2>/dev/null || true
  goaws_pid=""
done
if [ -z "$port" ]; then
  echo "goaws did not start; its log:" >&2
  cat "$work/goaws.log" >&2
  exit 1
fi
endpoint=http://127.0.0.1:$port
step "goaws $GOAWS_VERSION on $endpoint (pid $goaws_pid)"

# --- the queue, its dead-letter queue, the topic and the subscription, with the AWS CLI -------------
# Dummy credentials, no profile, no pager: nothing of the caller's AWS setup is used.
export AWS_ACCESS_KEY_ID=AKIDEXAMPLES AWS_SECRET_ACCESS_KEY=examples-secret
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER="" AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_SNS AWS_ENDPOINT_URL_SQS
# Every aws command below goes to goaws, so the examples read exactly as in the READMEs.
aws() { /usr/bin/aws --endpoint-url "$endpoint" --output text "$@"; }

dlq_url=$(aws sqs create-queue --queue-name dispatch-dlq --query QueueUrl)
dlq_arn=$(aws sqs get-queue-attributes --queue-url "$dlq_url" --attribute-names QueueArn --query Attributes.QueueArn)
cat >"$work/queue-attributes.json" <<EOF
{
  "VisibilityTimeout": "60",
  "ReceiveMessageWaitTimeSeconds": "20",
  "RedrivePolicy": "{\"deadLetterTargetArn\":\"$dlq_arn\",\"maxReceiveCount\":\"5\"}"
}
EOF
queue_url=$(aws sqs create-queue --queue-name dispatch --attributes "file://$work/queue-attributes.json" --query QueueUrl)
queue_arn=$(aws sqs get-queue-attributes --queue-url "$queue_url" --attribute-names QueueArn --query Attributes.QueueArn)
SNS_ARN=$(aws sns create-topic --name dispatch --query TopicArn)
aws sns subscribe --topic-arn "$SNS_ARN" --protocol sqs --notification-endpoint "$queue_arn" \
  --attributes "RawMessageDelivery=$RAW_MESSAGE_DELIVERY" >/dev/null
step "queue $queue_url (dead-letter queue $dlq_arn), topic $SNS_ARN, raw delivery $RAW_MESSAGE_DELIVERY"

# --- the examples, copied from the READMEs (TestAWSCLIScriptRunsTheREADMEExamples checks) ---------
(
  # The users the examples name: the fake Slack knows alice and bob.
  USER=alice USER1=alice USER2=bob

  # README.md, "Send an alarm"
  aws sns publish --topic-arn "$SNS_ARN" --subject "" \
    --message '{"type":"self-service","users":[{"slack":"alice","github":"alice"}],"body":{"github":{"title":"self-service title","body":"self-service body"},"slack":{"message":"testSlackMessage","prompt":"testSlackPrompt","actions":{"yes":"testYesAction","no":"testNoAction"}}}}'

  # The seed README (the system dispatch replaces), "Testing"
  aws sns publish --topic-arn "$SNS_ARN" --subject "" \
  --message "{\"type\":\"self-service\",\"users\":[{\"slack\": \"$USER\",\"github\":\"$USER\"}],\"body\":{\"github\":{\"title\":\"self-service title\",\"body\":\"self-service body\"},\"slack\":{\"message\":\"testSlackMessage\",\"prompt\":\"testSlackPrompt\",\"actions\":{\"yes\":\"testYesAction\",\"no\":\"testNoAction\"}}}}"

  aws sns publish --topic-arn "$SNS_ARN" --subject "" \
  --message "{\"type\":\"high\",\"body\":{\"pagerduty\":{\"title\":\"pagerduty title\"}}}}"

  aws sns publish --topic-arn "$SNS_ARN" --subject "" \
  --message "{\"type\":\"broadcast\",\"users\":[{\"slack\": \"$USER1\",\"github\":\"$USER1\"},{\"slack\": \"$USER2\",\"github\":\"$USER2\"}],\"body\":{\"github\":{\"title\":\"broadcast title\",\"body\":\"broadcast body\"},\"slack\":{\"message\":\"testSlackMessage\",\"prompt\":\"testSlackPrompt\",\"actions\":{\"yes\":\"testYesAction\",\"no\":\"testNoAction\"}}}}"
) >/dev/null
step "published the 4 examples"

# --- dispatch on that queue ----------------------------------------------------------------------
step "go test -run '^TestAWSCLIExamples\$' ./e2e/"
DISPATCH_E2E_AWSCLI_ENDPOINT=$endpoint DISPATCH_E2E_AWSCLI_QUEUE_URL=$queue_url \
  go test -count=1 -v -run '^TestAWSCLIExamples$' ./e2e/ 2>&1 | tee "$work/test.log"
# A skipped test passes too: make sure it ran.
if ! grep -q -- '^--- PASS: TestAWSCLIExamples ' "$work/test.log"; then
  echo "TestAWSCLIExamples did not pass (skipped, or not run)" >&2
  exit 1
fi
step "done"
