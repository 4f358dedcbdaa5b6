package awstest

import (
	"encoding/json"
	"net/http"
	"strings"
)

// fifoSendRefused answers, as SQS does, a SendMessage to a FIFO queue (its URL ends in ".fifo")
// without a MessageGroupId (400 MissingParameter), which goaws would accept; it reports whether it
// did. Only the JSON protocol is checked: the one the SDK speaks.
func fifoSendRefused(w http.ResponseWriter, action string, body []byte, isJSON bool) bool {
	if action != "SendMessage" || !isJSON {
		return false
	}
	var in struct {
		QueueUrl       string
		MessageGroupId string
	}
	if json.Unmarshal(body, &in) != nil || !strings.HasSuffix(in.QueueUrl, ".fifo") || in.MessageGroupId != "" {
		return false
	}
	w.Header().Set("Content-Type", jsonContentType)
	w.Header().Set("x-amzn-query-error", "MissingParameter;Sender")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write([]byte(`{"__type":"com.amazonaws.sqs#MissingParameter","message":"The request must contain the parameter MessageGroupId."}`))
	return true
}
