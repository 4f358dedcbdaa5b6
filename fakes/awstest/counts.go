package awstest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Admiral-Piett/goaws/app/models"
)

// goaws keeps a message's number of returns (Retry: visibility expired, or set to 0) but answers
// every receive with ApproximateReceiveCount "1", ApproximateFirstReceiveTimestamp the time of
// this receive and SentTimestamp the time of the answer. receiveCounts corrects the JSON answer to
// what SQS says: every receive of a message is preceded by one return per earlier receive (a
// message received is either deleted, returned or moved to the dead-letter queue), so the receive
// count is Retry+1. goaws's own redrive moves a message once Retry reaches maxReceiveCount, that is
// exactly when its next receive would exceed maxReceiveCount, as SQS's redrive policy does; the
// count the consumer sees and the count the redrive acts on are therefore the same number.
type receiveCounts struct {
	mu    sync.Mutex
	first map[string]time.Time // MessageId → first receive; kept for the life of the process
}

// annotate rewrites a JSON ReceiveMessage answer from queue name with SQS's receive count and
// timestamps. On anything it can't read it returns the body unchanged.
func (rc *receiveCounts) annotate(queue string, body []byte) []byte {
	var res map[string]json.RawMessage
	if json.Unmarshal(body, &res) != nil {
		return body
	}
	var msgs []map[string]json.RawMessage
	if json.Unmarshal(res["Messages"], &msgs) != nil || len(msgs) == 0 {
		return body
	}
	type state struct {
		retry int
		sent  time.Time
	}
	ids := map[string]state{}
	for _, m := range msgs {
		var id string
		_ = json.Unmarshal(m["MessageId"], &id)
		ids[id] = state{}
	}
	models.SyncQueues.RLock()
	if q, ok := models.SyncQueues.Queues[queue]; ok {
		for i := range q.Messages {
			if _, want := ids[q.Messages[i].Uuid]; want {
				ids[q.Messages[i].Uuid] = state{retry: q.Messages[i].Retry, sent: q.Messages[i].SentTime}
			}
		}
	}
	models.SyncQueues.RUnlock()

	now := time.Now()
	rc.mu.Lock()
	if rc.first == nil {
		rc.first = map[string]time.Time{}
	}
	for _, m := range msgs {
		var id string
		_ = json.Unmarshal(m["MessageId"], &id)
		first, seen := rc.first[id]
		if !seen {
			first = now
			rc.first[id] = now
		}
		var attrs map[string]string
		_ = json.Unmarshal(m["Attributes"], &attrs)
		if attrs == nil {
			attrs = map[string]string{}
		}
		st := ids[id]
		attrs["ApproximateReceiveCount"] = strconv.Itoa(st.retry + 1)
		attrs["ApproximateFirstReceiveTimestamp"] = strconv.FormatInt(first.UnixMilli(), 10)
		if !st.sent.IsZero() {
			attrs["SentTimestamp"] = strconv.FormatInt(st.sent.UnixMilli(), 10)
		}
		m["Attributes"], _ = json.Marshal(attrs)
	}
	rc.mu.Unlock()
	raw, err := json.Marshal(msgs)
	if err != nil {
		return body
	}
	res["Messages"] = raw
	out, err := json.Marshal(res)
	if err != nil {
		return body
	}
	return out
}

// receiveFaults makes ReceiveMessage on chosen queues fail, as SQS does in an outage.
type receiveFaults struct {
	mu    sync.Mutex
	until map[string]time.Time // queue name → end of the failure
}

func (f *receiveFaults) set(queue string, until time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.until == nil {
		f.until = map[string]time.Time{}
	}
	f.until[queue] = until
}

// fail answers the receive with SQS's 500 InternalError while the queue's failure lasts.
func (f *receiveFaults) fail(w http.ResponseWriter, queue string) bool {
	f.mu.Lock()
	until, ok := f.until[queue]
	f.mu.Unlock()
	if !ok || !time.Now().Before(until) {
		return false
	}
	w.Header().Set("Content-Type", jsonContentType)
	w.Header().Set("x-amzn-query-error", "InternalError;Receiver")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte(`{"__type":"com.amazonaws.sqs#InternalError","message":"awstest: injected receive failure"}`))
	return true
}

// FailReceives makes every ReceiveMessage on the queue answer 500 InternalError for d from now
// (d <= 0 ends an earlier failure). Other calls on the queue still work.
func (s *Server) FailReceives(queueURL string, d time.Duration) {
	s.g.faults.set(queueURL[strings.LastIndex(queueURL, "/")+1:], time.Now().Add(d))
}
